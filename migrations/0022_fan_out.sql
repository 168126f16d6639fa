-- Many machines at once: reservations booked together as a set, deploys grouped in batches,
-- and the relay through which a batch's agents stream the image to each other.

-- The reservations booked in one step share the id of the set's first reservation.
ALTER TABLE reservations ADD COLUMN set_id INTEGER;
CREATE INDEX reservations_set ON reservations (set_id);

-- One image deployed to many machines: a batch groups one ordinary job per machine.
CREATE TABLE batches (
    id           INTEGER PRIMARY KEY,
    requested_by INTEGER REFERENCES users (id) ON DELETE SET NULL,
    image_id     INTEGER REFERENCES images (id) ON DELETE SET NULL,
    -- 'relay' (the agents stream the image to each other in a pipeline) or 'direct'
    transfer     TEXT    NOT NULL,
    created_at   BIGINT  NOT NULL
);

ALTER TABLE boot_jobs ADD COLUMN batch_id INTEGER REFERENCES batches (id) ON DELETE SET NULL;
CREATE INDEX boot_jobs_batch ON boot_jobs (batch_id);
-- The relay: where the job's agent serves what it has received, its place in the pipeline
-- (the order in which the agents joined), and the key its grants are checked with (sealed).
ALTER TABLE boot_jobs ADD COLUMN relay_address TEXT NOT NULL DEFAULT '';
ALTER TABLE boot_jobs ADD COLUMN relay_position INTEGER;
ALTER TABLE boot_jobs ADD COLUMN relay_key BLOB;
