-- Failed log-ins per key (an account with an address, an address, an account, a known device),
-- kept in the database so that every instance spends one budget. Rows are pruned an hour after
-- their last failure.
CREATE TABLE login_failures (
    key             TEXT   PRIMARY KEY,
    failures        BIGINT NOT NULL,
    last_failure_at BIGINT NOT NULL,
    locked_until    BIGINT NOT NULL
);
CREATE INDEX login_failures_last ON login_failures (last_failure_at);

-- Browsers that logged in to an account before (OWASP's device cookie): their failures count
-- against themselves only, so a stranger cannot lock the account's owner out. Only a hash of
-- the token is kept.
CREATE TABLE known_devices (
    token_sha256 TEXT   PRIMARY KEY,
    user_id      BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT NOT NULL
);
CREATE INDEX known_devices_user ON known_devices (user_id);
