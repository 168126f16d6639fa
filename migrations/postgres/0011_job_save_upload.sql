-- The upload a save job's agent is sending the disk into (resumed after a restart).
ALTER TABLE boot_jobs ADD COLUMN save_upload_id TEXT NOT NULL DEFAULT '';
