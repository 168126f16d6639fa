-- Virtual media: an ISO from the library inserted into a machine's BMC through a URL that only
-- that attachment's random token opens (only its SHA-256 is stored).
CREATE TABLE media_attachments (
    id             INTEGER PRIMARY KEY,
    machine_id     INTEGER NOT NULL REFERENCES machines (id) ON DELETE CASCADE,
    -- Kept NULL once the image is deleted (only ended attachments allow that); the label stays.
    image_id       INTEGER REFERENCES images (id) ON DELETE SET NULL,
    image_label    TEXT    NOT NULL,
    user_id        INTEGER REFERENCES users (id) ON DELETE SET NULL,
    reservation_id INTEGER REFERENCES reservations (id) ON DELETE SET NULL,
    token_hash     TEXT    NOT NULL UNIQUE,
    expires_at     BIGINT  NOT NULL,
    -- attaching, attached, failed, detached
    state          TEXT    NOT NULL,
    bmc_answer     TEXT    NOT NULL DEFAULT '',
    created_at     BIGINT  NOT NULL,
    detached_at    BIGINT
);
CREATE INDEX media_attachments_machine ON media_attachments (machine_id, state);
CREATE INDEX media_attachments_image ON media_attachments (image_id, state);
