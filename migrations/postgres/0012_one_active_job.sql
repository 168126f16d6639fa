-- At most one active job per machine, enforced by the database: two requests racing past the
-- application's check cannot both insert.
CREATE UNIQUE INDEX boot_jobs_one_active ON boot_jobs (machine_id)
    WHERE state IN ('queued', 'powering', 'netbooting', 'enrolled', 'saving', 'writing', 'verifying', 'rebooting');
