-- Schema parity with PostgreSQL (checked by lab/src/schema_drift.rs): the yes/no columns added
-- in 0014 were declared INTEGER here but BOOLEAN there, and the code binds them as booleans.
-- SQLite stores both as 0 or 1; they are redeclared BOOLEAN with FALSE/TRUE defaults like every
-- other flag. Each column is replaced in place (add, copy, drop, rename) rather than by
-- rebuilding its table: sqlx runs this inside a transaction, where foreign keys cannot be
-- switched off, and dropping `machines` would cascade into every table that references it.
ALTER TABLE machines ADD COLUMN save_before_reset_0016 BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE machines SET save_before_reset_0016 = (save_before_reset <> 0);
ALTER TABLE machines DROP COLUMN save_before_reset;
ALTER TABLE machines RENAME COLUMN save_before_reset_0016 TO save_before_reset;

ALTER TABLE notice_preferences ADD COLUMN portal_0016 BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE notice_preferences ADD COLUMN email_0016 BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE notice_preferences ADD COLUMN webhook_0016 BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE notice_preferences SET portal_0016 = (portal <> 0), email_0016 = (email <> 0),
    webhook_0016 = (webhook <> 0);
ALTER TABLE notice_preferences DROP COLUMN portal;
ALTER TABLE notice_preferences DROP COLUMN email;
ALTER TABLE notice_preferences DROP COLUMN webhook;
ALTER TABLE notice_preferences RENAME COLUMN portal_0016 TO portal;
ALTER TABLE notice_preferences RENAME COLUMN email_0016 TO email;
ALTER TABLE notice_preferences RENAME COLUMN webhook_0016 TO webhook;
