-- The boot plane's memory: machines that asked to boot without being in the inventory, and
-- every step of every boot (DHCP offer, TFTP transfer, script served), per MAC.
CREATE TABLE discovered_machines (
    mac          TEXT    PRIMARY KEY,
    architecture TEXT    NOT NULL DEFAULT '',
    vendor_class TEXT    NOT NULL DEFAULT '',
    address      TEXT    NOT NULL DEFAULT '',
    first_seen   BIGINT  NOT NULL,
    last_seen    BIGINT  NOT NULL,
    times_seen   INTEGER NOT NULL DEFAULT 1
);

CREATE TABLE boot_events (
    id         INTEGER PRIMARY KEY,
    at         BIGINT  NOT NULL,
    mac        TEXT    NOT NULL,
    machine_id INTEGER REFERENCES machines (id) ON DELETE SET NULL,
    kind       TEXT    NOT NULL,
    detail     TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX boot_events_machine ON boot_events (machine_id, at);
CREATE INDEX boot_events_mac ON boot_events (mac, at);
