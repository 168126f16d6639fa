-- The lab's core state. Times are UNIX seconds (BIGINT) so the same queries run on SQLite and PostgreSQL.

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    username      TEXT    NOT NULL UNIQUE,
    display_name  TEXT    NOT NULL DEFAULT '',
    password_hash TEXT    NOT NULL,
    is_admin      BOOLEAN NOT NULL DEFAULT FALSE,
    disabled      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    BIGINT  NOT NULL
);

CREATE TABLE groups (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT ''
);

CREATE TABLE group_members (
    group_id INTEGER NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    user_id  INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, user_id)
);

CREATE TABLE machines (
    id           INTEGER PRIMARY KEY,
    name         TEXT    NOT NULL UNIQUE,
    platform     TEXT    NOT NULL,
    bmc_kind     TEXT    NOT NULL DEFAULT 'none',
    bmc_address  TEXT    NOT NULL DEFAULT '',
    bmc_secret   BLOB,
    location     TEXT    NOT NULL DEFAULT '',
    tags         TEXT    NOT NULL DEFAULT '',
    description  TEXT    NOT NULL DEFAULT '',
    state        TEXT    NOT NULL DEFAULT 'available',
    created_at   BIGINT  NOT NULL,
    updated_at   BIGINT  NOT NULL
);

CREATE TABLE machine_macs (
    mac        TEXT    PRIMARY KEY,
    machine_id INTEGER NOT NULL REFERENCES machines (id) ON DELETE CASCADE
);
CREATE INDEX machine_macs_machine ON machine_macs (machine_id);

CREATE TABLE grants (
    id         INTEGER PRIMARY KEY,
    machine_id INTEGER NOT NULL REFERENCES machines (id) ON DELETE CASCADE,
    user_id    INTEGER REFERENCES users (id) ON DELETE CASCADE,
    group_id   INTEGER REFERENCES groups (id) ON DELETE CASCADE,
    level      INTEGER NOT NULL CHECK (level BETWEEN 1 AND 3),
    CHECK ((user_id IS NULL) <> (group_id IS NULL))
);
CREATE UNIQUE INDEX grants_user ON grants (machine_id, user_id) WHERE user_id IS NOT NULL;
CREATE UNIQUE INDEX grants_group ON grants (machine_id, group_id) WHERE group_id IS NOT NULL;

CREATE TABLE reservations (
    id         INTEGER PRIMARY KEY,
    machine_id INTEGER NOT NULL REFERENCES machines (id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL REFERENCES users (id),
    start_at   BIGINT  NOT NULL,
    end_at     BIGINT  NOT NULL,
    note       TEXT    NOT NULL DEFAULT '',
    state      TEXT    NOT NULL DEFAULT 'active',
    created_at BIGINT  NOT NULL,
    updated_at BIGINT  NOT NULL,
    CHECK (end_at > start_at)
);
CREATE INDEX reservations_machine_time ON reservations (machine_id, state, start_at, end_at);
CREATE INDEX reservations_user ON reservations (user_id, end_at);

-- The database itself refuses overlapping active reservations, whoever writes them.
-- (On PostgreSQL the equivalent is an exclusion constraint over tsrange.)
CREATE TRIGGER reservations_no_overlap_insert
BEFORE INSERT ON reservations
WHEN NEW.state = 'active' AND EXISTS (
    SELECT 1 FROM reservations r
    WHERE r.machine_id = NEW.machine_id AND r.state = 'active'
      AND r.start_at < NEW.end_at AND r.end_at > NEW.start_at)
BEGIN
    SELECT RAISE(ABORT, 'reservation overlaps another reservation');
END;

CREATE TRIGGER reservations_no_overlap_update
BEFORE UPDATE OF start_at, end_at, state ON reservations
WHEN NEW.state = 'active' AND EXISTS (
    SELECT 1 FROM reservations r
    WHERE r.machine_id = NEW.machine_id AND r.state = 'active' AND r.id <> NEW.id
      AND r.start_at < NEW.end_at AND r.end_at > NEW.start_at)
BEGIN
    SELECT RAISE(ABORT, 'reservation overlaps another reservation');
END;

CREATE TABLE audit_log (
    id         INTEGER PRIMARY KEY,
    at         BIGINT NOT NULL,
    actor_id   INTEGER,
    actor_name TEXT   NOT NULL,
    address    TEXT   NOT NULL DEFAULT '',
    action     TEXT   NOT NULL,
    target     TEXT   NOT NULL DEFAULT '',
    detail     TEXT   NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_at ON audit_log (at);

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
