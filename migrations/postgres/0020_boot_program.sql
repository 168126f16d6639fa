-- A machine's own network boot program (a file of the TFTP root, e.g. snponly.efi for a NIC
-- whose native iPXE driver misbehaves); empty: the lab's table by firmware.
ALTER TABLE machines ADD COLUMN boot_program TEXT NOT NULL DEFAULT '';
