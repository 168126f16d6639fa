# Shared by the benchmark scripts (sourced): the reference peers they install and the release
# build of baas they run. Expects ROOT and CARGO_TARGET_DIR.

# Installs the Debian package of each `command=package` pair whose command is missing. Packages
# like dnsmasq and nginx start a system service on install; the benchmarks run their own.
install_missing() {
  local pair missing=()
  for pair in "$@"; do
    command -v "${pair%%=*}" >/dev/null 2>&1 || missing+=("${pair#*=}")
  done
  [ "${#missing[@]}" -eq 0 ] && return
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  rm -f /usr/sbin/policy-rc.d
}

# Sets BAAS to the release binary, building it when missing or older than any workspace source.
release_baas() {
  BAAS="$CARGO_TARGET_DIR/release/baas"
  if [ ! -x "$BAAS" ] || [ -n "$(find "$ROOT"/{lab,app,netboot,bmc,server}/src -newer "$BAAS" -name '*.rs' | head -1)" ]; then
    (cd "$ROOT" && cargo build --release -p server --bin baas -q)
  fi
}

# Writes a disk image like real ones to $2 ($1 MiB: an MBR signature, half incompressible data,
# half zeros and text) and its zstd -3 compression to $2.zst.
make_image() {
  local mib=$1 out=$2
  {
    head -c $(( mib / 2 ))M /dev/urandom
    head -c $(( mib / 4 ))M /dev/zero
    head -c $(( mib / 4 ))M < <(yes 'baas benchmark filler line')
  } > "$out"
  printf '\x55\xaa' | dd of="$out" bs=1 seek=510 conv=notrunc status=none
  zstd -q -3 -T0 "$out" -o "$out.zst"
}
