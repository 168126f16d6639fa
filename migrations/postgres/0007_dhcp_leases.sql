-- Authoritative DHCP: a machine's fixed address on the lab subnet, and the leases baas hands
-- out (fixed and from the dynamic pool), kept across restarts.
ALTER TABLE machines ADD COLUMN ip_address TEXT NOT NULL DEFAULT '';
CREATE UNIQUE INDEX machines_ip_address ON machines (ip_address) WHERE ip_address <> '';

CREATE TABLE dhcp_leases (
    address    TEXT    PRIMARY KEY,
    -- Empty for an address a client declined (in use by someone else): quarantined until expiry.
    mac        TEXT    NOT NULL,
    -- offered | bound | declined
    state      TEXT    NOT NULL,
    expires_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX dhcp_leases_mac ON dhcp_leases (mac);
