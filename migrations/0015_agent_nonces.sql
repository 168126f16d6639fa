-- Nonces of signed agent requests, shared by every instance on one database so that a request
-- replayed to another instance is refused too (one instance on SQLite keeps them in memory).
-- Rows older than twice the accepted clock skew are pruned.
CREATE TABLE agent_nonces (
    nonce   TEXT   PRIMARY KEY,
    seen_at BIGINT NOT NULL
);
CREATE INDEX agent_nonces_seen ON agent_nonces (seen_at);
