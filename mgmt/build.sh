#!/usr/bin/env bash
# Builds the baas management OS from Debian packages: the kernel `linux-image-<arch>` depends
# on, the drivers a VM and common servers need (with their dependencies from modules.dep),
# busybox-static, and the static baas-agent. Reproducible: the same inputs give the same
# bytes (sorted archive, fixed mtimes, SOURCE_DATE_EPOCH); the result is cached by the hash of
# its inputs.
#
#   mgmt/build.sh OUT_DIR [--arch amd64|arm64]   writes OUT_DIR/vmlinuz and OUT_DIR/initrd.img
#                                               (arm64: and GRUB's modules, OUT_DIR/grub/arm64-efi)
#
# For arm64 the packages come from Debian's arm64 index, read into the cache without touching
# this machine's apt configuration, and the agent is cross-built for aarch64-unknown-linux-musl
# (Debian's gcc-aarch64-linux-gnu compiles its C parts and links it against Rust's own musl).
# Installs what it needs when missing; the kernel and busybox-static packages are downloaded and
# unpacked here, never installed on this machine.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
usage() { echo "usage: mgmt/build.sh OUT_DIR [--arch amd64|arm64]" >&2; exit 2; }
OUT='' ARCH=amd64
while [ $# -gt 0 ]; do
  case $1 in
    --arch) ARCH=${2:-}; shift 2 || usage ;;
    -*) usage ;;
    *) [ -z "$OUT" ] || usage; OUT=$1; shift ;;
  esac
done
[ -n "$OUT" ] || usage
case $ARCH in
  amd64) TARGET=x86_64-unknown-linux-musl ;;
  arm64) TARGET=aarch64-unknown-linux-musl ;;
  *) echo "mgmt/build.sh: --arch is amd64 or arm64, not '$ARCH'" >&2; exit 2 ;;
esac
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/baas/mgmt"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/baas/target}"
# Drivers for QEMU (virtio, e1000) and common servers (Intel NICs, NVMe, SATA, SAS/SCSI disks).
MODULES="virtio_pci virtio_blk virtio_net virtio_scsi e1000 e1000e igb ixgbe nvme ahci sd_mod"
export SOURCE_DATE_EPOCH=1700000000

# One build at a time (tests build it in parallel): the cache is shared.
mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9

say() { printf '\033[1;34m==>\033[0m %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
command -v depmod >/dev/null || [ -x /sbin/depmod ] || missing+=(kmod)
command -v cpio >/dev/null || missing+=(cpio)
if [ "$ARCH" = amd64 ]; then
  command -v musl-gcc >/dev/null || missing+=(musl-tools)
else
  command -v aarch64-linux-gnu-gcc >/dev/null || missing+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross)
fi
if [ "${#missing[@]}" -gt 0 ]; then
  say "apt-get install ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
rustup target list --installed | grep -qx "$TARGET" || rustup target add "$TARGET"

say "building baas-agent (static, musl, $TARGET)"
if [ "$ARCH" = arm64 ]; then
  export CC_aarch64_unknown_linux_musl=aarch64-linux-gnu-gcc
  export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER=aarch64-linux-gnu-gcc
fi
(cd "$ROOT" && cargo build --quiet --release --locked -p baas-agent --target "$TARGET")
AGENT="$CARGO_TARGET_DIR/$TARGET/release/baas-agent"

# The package index of the target architecture: the system's for amd64, for arm64 one of its
# own kept in the cache.
source "$ROOT/mgmt/debs.sh"
debs_use "$ARCH"
APT=("${DEBS_APT[@]}")
KPKG=$(apt-cache "${APT[@]}" depends "linux-image-$ARCH" | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
[ -n "$KPKG" ] || { as_root apt-get "${APT[@]}" update -qq; KPKG=$(apt-cache "${APT[@]}" depends "linux-image-$ARCH" | awk '/Depends: linux-image-[0-9]/ {print $2; exit}'); }
KVERSION=$(deb_version "$KPKG")
KVER=${KPKG#linux-image-}
BUSYBOX_VERSION=$(deb_version busybox-static)
# arm64 machines network-boot GRUB (Debian has no arm64 iPXE): its modules go beside the build,
# where baas makes its arm64 boot program from them at start.
GRUB_VERSION=''
[ "$ARCH" != arm64 ] || GRUB_VERSION=$(deb_version grub-efi-arm64-bin)

key=$( {
  echo "$ARCH $KPKG $KVERSION busybox $BUSYBOX_VERSION grub $GRUB_VERSION modules $MODULES"
  sha256sum "$AGENT" "$ROOT/mgmt/init" "$ROOT/mgmt/udhcpc.script" "$ROOT/mgmt/build.sh" "$ROOT/mgmt/debs.sh" | cut -d' ' -f1
} | sha256sum | cut -c1-16)
BUILT="$CACHE/$key"
if [ ! -f "$BUILT/initrd.img" ]; then
  say "management OS: $KPKG ($KVERSION), busybox $BUSYBOX_VERSION, baas-agent -> $BUILT"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  dpkg-deb -x "$(deb_fetch "$KPKG" "$KVERSION")" "$work/k"
  dpkg-deb -x "$(deb_fetch busybox-static "$BUSYBOX_VERSION")" "$work/busybox"
  # The .deb ships no modules.dep.
  /sbin/depmod -b "$work/k" "$KVER"
  M="$work/k/lib/modules/$KVER"
  ir="$work/initramfs"
  mkdir -p "$ir"/{bin,dev,etc,lib/modules,proc,sys,tmp,run}
  cp "$work/busybox/bin/busybox" "$ir/bin/busybox"
  cp "$AGENT" "$ir/bin/baas-agent"
  cp "$ROOT/mgmt/init" "$ir/init"
  cp "$ROOT/mgmt/udhcpc.script" "$ir/etc/udhcpc.script"
  chmod 0755 "$ir/init" "$ir/etc/udhcpc.script" "$ir/bin/busybox" "$ir/bin/baas-agent"
  order=""
  add() {  # a module after its dependencies; built-in ones need nothing
    local line dep file
    line=$(grep -E "/$1\.ko(\.[a-z]+)?:" "$M/modules.dep" || true)
    [ -n "$line" ] || return 0
    for dep in ${line#*:}; do add "$(basename "$dep" | sed -E 's/\.ko(\.[a-z]+)?$//')"; done
    file=${line%%:*}
    case " $order " in *" $file "*) ;; *)
      order="$order $file"
      case "$file" in
        *.ko.xz) xz -dc "$M/$file" > "$ir/lib/modules/$(basename "$file" .xz)" ;;
        *.ko.zst) zstd -qdc "$M/$file" > "$ir/lib/modules/$(basename "$file" .zst)" ;;
        *) cp "$M/$file" "$ir/lib/modules/" ;;
      esac ;;
    esac
  }
  for module in $MODULES; do add "$module"; done
  for file in $order; do basename "$file" | sed -E 's/\.(xz|zst)$//'; done > "$ir/lib/modules/order"
  find "$ir" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
  mkdir -p "$BUILT.tmp"
  (cd "$ir" && find . | LC_ALL=C sort | cpio -o -H newc --reproducible -R 0:0 2>/dev/null | gzip -9n) > "$BUILT.tmp/initrd.img"
  cp "$work/k/boot/vmlinuz-$KVER" "$BUILT.tmp/vmlinuz"
  if [ -n "$GRUB_VERSION" ]; then
    dpkg-deb -x "$(deb_fetch grub-efi-arm64-bin "$GRUB_VERSION")" "$work/grub"
    mkdir -p "$BUILT.tmp/grub"
    cp -r "$work/grub/usr/lib/grub/arm64-efi" "$BUILT.tmp/grub/"
    rm -rf "$BUILT.tmp/grub/arm64-efi/monolithic"
  fi
  rm -rf "$BUILT" && mv "$BUILT.tmp" "$BUILT"
fi
mkdir -p "$OUT"
for file in vmlinuz initrd.img; do
  cmp -s "$BUILT/$file" "$OUT/$file" 2>/dev/null || cp "$BUILT/$file" "$OUT/$file.tmp" && mv -f "$OUT/$file.tmp" "$OUT/$file" 2>/dev/null || true
done
if [ -d "$BUILT/grub" ]; then
  rm -rf "$OUT/grub.tmp" && cp -r "$BUILT/grub" "$OUT/grub.tmp" && rm -rf "$OUT/grub" && mv "$OUT/grub.tmp" "$OUT/grub"
fi
say "management OS: $OUT/vmlinuz $(stat -c %s "$OUT/vmlinuz") bytes, $OUT/initrd.img $(stat -c %s "$OUT/initrd.img") bytes (sha256 $(sha256sum "$OUT/initrd.img" | cut -c1-16))"
