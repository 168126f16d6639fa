-- The image library, resumable uploads, per-user quotas, and API tokens for scripts.

-- NULL: the lab's default quota (setting images.default_quota_bytes).
ALTER TABLE users ADD COLUMN image_quota_bytes BIGINT;

CREATE TABLE images (
    id           INTEGER PRIMARY KEY,
    owner_id     INTEGER NOT NULL REFERENCES users (id),
    name         TEXT    NOT NULL,
    version      INTEGER NOT NULL,
    visibility   TEXT    NOT NULL DEFAULT 'private',
    group_id     INTEGER REFERENCES groups (id) ON DELETE SET NULL,
    description  TEXT    NOT NULL DEFAULT '',
    format       TEXT    NOT NULL,
    compression  TEXT    NOT NULL,
    stored_size  BIGINT  NOT NULL,
    -- Uncompressed (raw, ISO) or virtual (converted qcow2) size, where the content tells it.
    content_size BIGINT,
    sha256       TEXT    NOT NULL,
    source       TEXT    NOT NULL DEFAULT '',
    created_at   BIGINT  NOT NULL,
    last_used_at BIGINT,
    UNIQUE (owner_id, name, version)
);
CREATE INDEX images_name ON images (name);

-- An upload in progress (or just finished or failed). Its bytes live in a temporary file named
-- by the id until the image is complete; only then does a row appear in `images`.
CREATE TABLE uploads (
    id              TEXT    PRIMARY KEY,
    owner_id        INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name            TEXT    NOT NULL,
    description     TEXT    NOT NULL DEFAULT '',
    visibility      TEXT    NOT NULL,
    group_id        INTEGER REFERENCES groups (id) ON DELETE SET NULL,
    length          BIGINT,
    expected_sha256 TEXT,
    filename        TEXT    NOT NULL DEFAULT '',
    source_url      TEXT    NOT NULL DEFAULT '',
    received        BIGINT  NOT NULL DEFAULT 0,
    state           TEXT    NOT NULL DEFAULT 'receiving',
    error           TEXT    NOT NULL DEFAULT '',
    image_id        INTEGER REFERENCES images (id) ON DELETE SET NULL,
    created_at      BIGINT  NOT NULL,
    updated_at      BIGINT  NOT NULL
);
CREATE INDEX uploads_owner ON uploads (owner_id, state);

-- Bearer tokens for curl and the CLI; only a SHA-256 of the secret is stored.
CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT    NOT NULL,
    token_hash   TEXT    NOT NULL UNIQUE,
    created_at   BIGINT  NOT NULL,
    last_used_at BIGINT
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);
