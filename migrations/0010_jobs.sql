-- Boot jobs grow into the lab's jobs: deploy (image -> disk, optionally saving the disk first),
-- save (disk -> new image version), inventory (hardware report only) and boot (the management
-- OS, nothing else). Each state change is kept with its time in `job_phases`.
ALTER TABLE boot_jobs ADD COLUMN kind TEXT NOT NULL DEFAULT 'boot';
ALTER TABLE boot_jobs ADD COLUMN image_id INTEGER REFERENCES images (id) ON DELETE SET NULL;
-- The image name a save (or a deploy's save-first) writes the next version of.
ALTER TABLE boot_jobs ADD COLUMN save_as TEXT NOT NULL DEFAULT '';
-- When the job is due (the creation time for "now").
ALTER TABLE boot_jobs ADD COLUMN scheduled_at BIGINT;
-- When the current state began; phase timeouts count from here (or from the last progress).
ALTER TABLE boot_jobs ADD COLUMN state_at BIGINT;
-- When the enrolment token in the boot script was handed out: it is valid for a short time.
ALTER TABLE boot_jobs ADD COLUMN token_issued_at BIGINT;
ALTER TABLE boot_jobs ADD COLUMN failed_step TEXT NOT NULL DEFAULT '';
ALTER TABLE boot_jobs ADD COLUMN reason TEXT NOT NULL DEFAULT '';
ALTER TABLE boot_jobs ADD COLUMN agent_said TEXT NOT NULL DEFAULT '';
ALTER TABLE boot_jobs ADD COLUMN bytes_done BIGINT NOT NULL DEFAULT 0;
ALTER TABLE boot_jobs ADD COLUMN bytes_total BIGINT NOT NULL DEFAULT 0;
ALTER TABLE boot_jobs ADD COLUMN bytes_per_second BIGINT NOT NULL DEFAULT 0;
ALTER TABLE boot_jobs ADD COLUMN progress_at BIGINT;
-- The image version a save produced.
ALTER TABLE boot_jobs ADD COLUMN saved_image_id INTEGER REFERENCES images (id) ON DELETE SET NULL;
UPDATE boot_jobs SET state = 'queued' WHERE state = 'pending';
UPDATE boot_jobs SET state = 'netbooting' WHERE state = 'booting';
UPDATE boot_jobs SET scheduled_at = created_at, state_at = COALESCE(started_at, created_at);

CREATE TABLE job_phases (
    id      INTEGER PRIMARY KEY,
    job_id  INTEGER NOT NULL REFERENCES boot_jobs (id) ON DELETE CASCADE,
    state   TEXT    NOT NULL,
    at      BIGINT  NOT NULL,
    detail  TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX job_phases_job ON job_phases (job_id, id);

-- A management OS that enrolled: its ed25519 public key authenticates every later call.
CREATE TABLE agents (
    id          INTEGER PRIMARY KEY,
    public_key  TEXT    NOT NULL UNIQUE,
    mac         TEXT    NOT NULL,
    machine_id  INTEGER REFERENCES machines (id) ON DELETE CASCADE,
    job_id      INTEGER REFERENCES boot_jobs (id) ON DELETE SET NULL,
    address     TEXT    NOT NULL DEFAULT '',
    enrolled_at BIGINT  NOT NULL,
    last_seen   BIGINT  NOT NULL,
    -- The hardware report of the last heartbeat, as JSON.
    hardware    TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX agents_machine ON agents (machine_id, last_seen);

-- What is on a machine's disk: 'unknown', or the image a verified deploy wrote.
ALTER TABLE machines ADD COLUMN disk_image_id INTEGER REFERENCES images (id) ON DELETE SET NULL;
ALTER TABLE machines ADD COLUMN disk_state TEXT NOT NULL DEFAULT 'unknown';
ALTER TABLE machines ADD COLUMN hardware TEXT NOT NULL DEFAULT '';

-- The SHA-256 and size of an image's uncompressed content: what a deploy reads back from the
-- disk to verify it. Empty until computed (at ingest, or once for older images).
ALTER TABLE images ADD COLUMN raw_sha256 TEXT NOT NULL DEFAULT '';
ALTER TABLE images ADD COLUMN raw_size BIGINT;
