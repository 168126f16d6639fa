-- Deploys judged by the machine's console: a job in 'booting' (the machine boots its written
-- disk while baas watches its console) is still the machine's one active job, and an image may
-- name the console line that says it is up (e.g. 'login:').
DROP INDEX boot_jobs_one_active;
CREATE UNIQUE INDEX boot_jobs_one_active ON boot_jobs (machine_id)
    WHERE state IN ('queued', 'powering', 'netbooting', 'enrolled', 'saving', 'writing', 'verifying', 'rebooting', 'booting');
ALTER TABLE images ADD COLUMN ready_pattern TEXT NOT NULL DEFAULT '';
