-- Bumped by every password change or reset: a session remembers the version it logged in
-- with and stops working when the user's credentials move on.
ALTER TABLE users ADD COLUMN credentials_version BIGINT NOT NULL DEFAULT 0;

-- API tokens may expire (NULL: never).
ALTER TABLE api_tokens ADD COLUMN expires_at BIGINT;

-- The address an enrolment token was handed to: only the machine that DHCP saw asking (or
-- that has the fixed address) gets a token, and only that address may redeem it.
ALTER TABLE boot_jobs ADD COLUMN enrolment_address TEXT NOT NULL DEFAULT '';
ALTER TABLE discovered_machines ADD COLUMN enrolment_address TEXT NOT NULL DEFAULT '';
