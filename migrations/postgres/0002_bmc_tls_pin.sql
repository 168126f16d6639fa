-- SHA-256 fingerprint (64 hex digits) of a Redfish BMC's self-signed certificate; empty = verify normally.
ALTER TABLE machines ADD COLUMN bmc_tls_pin TEXT NOT NULL DEFAULT '';
