-- arm64 machines now boot baas' own GRUB image by default. The old default named a file Debian
-- does not ship (ipxe-arm64.efi), and a save of the Settings table stored it with the rest: such
-- a stored default gives way to the new one. A lab that names any other program keeps it.
UPDATE settings SET value = 'baas-grubnetaa64.efi'
WHERE key = 'boot.program.arm64_uefi' AND value = 'ipxe-arm64.efi';
