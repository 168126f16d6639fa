#!/usr/bin/env bash
# Builds a small bootable raw disk for deploy tests, without root mounts or loop devices: an
# MBR, one FAT partition with syslinux (BIOS) and a standalone GRUB as EFI/BOOT/BOOTX64.EFI
# (UEFI), the given kernel and an initramfs whose /init prints MARKER on the serial console and
# powers the machine off. Writes OUT (raw) and OUT.zst.
# With MODE "no-root" the disk boots the kernel alone with a root device that does not exist:
# the kernel prints "VFS: Unable to mount root fs" and panics (a deploy judged by its console
# must fail with that line).
# With ARCH arm64 the disk is for arm64 UEFI machines: GRUB for arm64 as EFI/BOOT/BOOTAA64.EFI,
# arm64 busybox, the console on ttyAMA0 (KERNEL then an arm64 kernel, e.g. the arm64 management
# OS's); the arm64 packages come from Debian's arm64 index (mgmt/debs.sh).
#
#   mgmt/test-disk.sh KERNEL OUT MARKER [MODE [ARCH]]
set -euo pipefail
KERNEL=${1:?usage: mgmt/test-disk.sh KERNEL OUT MARKER}
OUT=${2:?usage: mgmt/test-disk.sh KERNEL OUT MARKER}
MARKER=${3:?usage: mgmt/test-disk.sh KERNEL OUT MARKER [MODE]}
MODE=${4:-marker}
ARCH=${5:-amd64}
case $MODE in marker|no-root) ;; *) echo "test-disk.sh: MODE is marker or no-root, not '$MODE'" >&2; exit 2 ;; esac
case $ARCH in
  amd64) SERIAL=ttyS0 GRUB_TARGET=x86_64-efi LOADER=BOOTX64.EFI ;;
  arm64) SERIAL=ttyAMA0 GRUB_TARGET=arm64-efi LOADER=BOOTAA64.EFI ;;
  *) echo "test-disk.sh: ARCH is amd64 or arm64, not '$ARCH'" >&2; exit 2 ;;
esac
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/baas/mgmt"
export SOURCE_DATE_EPOCH=1700000000

for tool in sfdisk mkfs.vfat mcopy mmd syslinux zstd cpio grub-mkstandalone; do
  command -v "$tool" >/dev/null || { echo "test-disk.sh needs $tool (./dev test installs it)" >&2; exit 1; }
done
mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
source "$ROOT/mgmt/debs.sh"
debs_use "$ARCH"
dpkg-deb -x "$(deb_fetch busybox-static "$(deb_version busybox-static)")" "$work/busybox"
GRUB_MODULES=()
if [ "$ARCH" = arm64 ]; then
  dpkg-deb -x "$(deb_fetch grub-efi-arm64-bin "$(deb_version grub-efi-arm64-bin)")" "$work/grub"
  GRUB_MODULES=(-d "$work/grub/usr/lib/grub/arm64-efi")
fi
mkdir -p "$work/ir/bin" "$work/ir/proc" "$work/ir/dev"
cp "$work/busybox/bin/busybox" "$work/ir/bin/busybox"
cat > "$work/ir/init" <<INIT
#!/bin/busybox sh
/bin/busybox mount -t devtmpfs dev /dev
/bin/busybox mount -t proc proc /proc
echo "$MARKER \$(/bin/busybox cut -d' ' -f1 /proc/uptime)" > /dev/$SERIAL
/bin/busybox poweroff -f
INIT
chmod 0755 "$work/ir/init"
find "$work/ir" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
(cd "$work/ir" && find . | LC_ALL=C sort | cpio -o -H newc --reproducible -R 0:0 2>/dev/null | gzip -9n) > "$work/initrd.gz"

truncate -s 0 "$work/disk.img"
truncate -s 48M "$work/disk.img"
printf 'label: dos\nstart=2048, type=c, bootable\n' | sfdisk -q "$work/disk.img"
truncate -s $((47 * 1024 * 1024)) "$work/part.img"
mkfs.vfat -n BAASTEST -i 0badcafe "$work/part.img" >/dev/null
if [ "$MODE" = no-root ]; then
  printf 'DEFAULT linux\nPROMPT 0\nLABEL linux\n  KERNEL /vmlinuz\n  APPEND console=%s root=/dev/baas-missing panic=0 %s\n' "$SERIAL" "$MARKER" > "$work/syslinux.cfg"
  printf 'linux /vmlinuz console=%s root=/dev/baas-missing panic=0 %s\nboot\n' "$SERIAL" "$MARKER" > "$work/boot.cfg"
else
  printf 'DEFAULT linux\nPROMPT 0\nLABEL linux\n  KERNEL /vmlinuz\n  INITRD /initrd.gz\n  APPEND console=%s quiet\n' "$SERIAL" > "$work/syslinux.cfg"
  printf 'linux /vmlinuz console=%s quiet\ninitrd /initrd.gz\nboot\n' "$SERIAL" > "$work/boot.cfg"
fi
# UEFI firmware starts EFI/BOOT/BOOTX64.EFI (BOOTAA64.EFI) from the FAT partition: a GRUB whose
# built-in configuration finds that partition by its kernel and boots the same kernel and
# initramfs (gzio, for a compressed kernel).
{ echo 'search --no-floppy --file --set=root /vmlinuz'; echo 'set timeout=0'; cat "$work/boot.cfg"; } > "$work/grub.cfg"
grub-mkstandalone -O "$GRUB_TARGET" "${GRUB_MODULES[@]}" -o "$work/$LOADER" --locales= --fonts= --themes= \
  --install-modules="normal search search_fs_file part_msdos fat linux echo configfile gzio" \
  --modules="part_msdos fat gzio" "boot/grub/grub.cfg=$work/grub.cfg"
mcopy -i "$work/part.img" "$KERNEL" ::/vmlinuz
mcopy -i "$work/part.img" "$work/initrd.gz" ::/initrd.gz
mcopy -i "$work/part.img" "$work/syslinux.cfg" ::/syslinux.cfg
mmd -i "$work/part.img" ::/EFI ::/EFI/BOOT
mcopy -i "$work/part.img" "$work/$LOADER" "::/EFI/BOOT/$LOADER"
[ "$ARCH" != amd64 ] || syslinux --install "$work/part.img"
dd if="$work/part.img" of="$work/disk.img" bs=1M seek=1 conv=notrunc status=none
[ "$ARCH" != amd64 ] || dd if=/usr/lib/syslinux/mbr/mbr.bin of="$work/disk.img" bs=440 count=1 conv=notrunc status=none
mv "$work/disk.img" "$OUT"
zstd -q -19 -f "$OUT" -o "$OUT.zst"
