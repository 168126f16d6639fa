-- Boot jobs: "boot this machine into the management OS" requests, waiting for the machine's
-- next network boot. The one-time enrolment token handed to the management OS is stored as
-- its SHA-256 only. Unknown machines enlisted by the discovery policy get one too.
CREATE TABLE boot_jobs (
    id                      INTEGER PRIMARY KEY,
    machine_id              INTEGER NOT NULL REFERENCES machines (id) ON DELETE CASCADE,
    requested_by            INTEGER REFERENCES users (id) ON DELETE SET NULL,
    -- pending | booting | cancelled
    state                   TEXT    NOT NULL,
    enrolment_token_sha256  TEXT    NOT NULL DEFAULT '',
    created_at              BIGINT  NOT NULL,
    started_at              BIGINT,
    ended_at                BIGINT
);
CREATE INDEX boot_jobs_machine ON boot_jobs (machine_id, state);

ALTER TABLE discovered_machines ADD COLUMN enrolment_token_sha256 TEXT NOT NULL DEFAULT '';
