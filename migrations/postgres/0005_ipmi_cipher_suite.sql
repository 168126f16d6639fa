-- The RMCP+ cipher suite baas asks an IPMI BMC for (1, 2 or 3; 3 = HMAC-SHA1 + AES-CBC-128).
ALTER TABLE machines ADD COLUMN ipmi_cipher_suite BIGINT NOT NULL DEFAULT 3;
