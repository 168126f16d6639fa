-- Notices before a reservation ends (in the portal, by email, by webhook) and the reset of a
-- machine to a known image after each reservation.

-- Where a user's email notices go; empty: none.
ALTER TABLE users ADD COLUMN email TEXT NOT NULL DEFAULT '';

-- Which notices a user gets, per channel. No row: the defaults (portal and email on).
CREATE TABLE notice_preferences (
    user_id        INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    portal         INTEGER NOT NULL DEFAULT 1,
    email          INTEGER NOT NULL DEFAULT 1,
    webhook        INTEGER NOT NULL DEFAULT 0,
    webhook_url    TEXT    NOT NULL DEFAULT '',
    -- The HMAC key of the webhook's signature, sealed like BMC secrets.
    webhook_secret BLOB
);

-- One notice to one user. `end_at` is the end it speaks of: after an extension the same lead
-- time falls due again for the new end.
CREATE TABLE notices (
    id             INTEGER PRIMARY KEY,
    user_id        INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    reservation_id INTEGER REFERENCES reservations (id) ON DELETE CASCADE,
    machine_id     INTEGER REFERENCES machines (id) ON DELETE CASCADE,
    -- 'ending' (lead_seconds before end_at), 'reset_failed' (to admins)
    kind           TEXT    NOT NULL,
    lead_seconds   BIGINT  NOT NULL DEFAULT 0,
    end_at         BIGINT  NOT NULL DEFAULT 0,
    subject        TEXT    NOT NULL,
    body           TEXT    NOT NULL,
    -- Portal path of the notice's action (the extension page), or empty.
    link           TEXT    NOT NULL DEFAULT '',
    created_at     BIGINT  NOT NULL,
    read_at        BIGINT
);
CREATE UNIQUE INDEX notices_once ON notices (user_id, reservation_id, kind, lead_seconds, end_at);
CREATE INDEX notices_user ON notices (user_id, id);

-- Each notice's trip through email or a webhook, with retries: the delivery log.
CREATE TABLE notice_deliveries (
    id              INTEGER PRIMARY KEY,
    notice_id       INTEGER NOT NULL REFERENCES notices (id) ON DELETE CASCADE,
    channel         TEXT    NOT NULL,
    target          TEXT    NOT NULL,
    -- 'pending', 'sent' or 'failed' (gave up)
    state           TEXT    NOT NULL DEFAULT 'pending',
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT  NOT NULL,
    last_error      TEXT    NOT NULL DEFAULT '',
    sent_at         BIGINT,
    created_at      BIGINT  NOT NULL
);
CREATE INDEX notice_deliveries_due ON notice_deliveries (state, next_attempt_at);
CREATE INDEX notice_deliveries_notice ON notice_deliveries (notice_id);

-- The image a machine is reset to after each reservation (NULL: the lab's default, if any),
-- and whether the holder's disk is saved first.
ALTER TABLE machines ADD COLUMN reset_image_id INTEGER REFERENCES images (id) ON DELETE SET NULL;
ALTER TABLE machines ADD COLUMN save_before_reset INTEGER NOT NULL DEFAULT 0;
-- Why a machine is in its state, when baas put it there (a failed reset).
ALTER TABLE machines ADD COLUMN state_reason TEXT NOT NULL DEFAULT '';
-- The reservation whose end a deploy job resets the machine after.
ALTER TABLE boot_jobs ADD COLUMN resets_reservation INTEGER REFERENCES reservations (id) ON DELETE SET NULL;
