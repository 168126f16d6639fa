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

# "min median max" of the numbers on standard input, one per line.
spread() {
  sort -g | awk '{a[NR]=$1} END {
    m = (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2
    printf "%.3f %.3f %.3f\n", a[1], m, a[NR] }'
}

calc() { awk "BEGIN { print $* }"; }

# A busy machine: one CPU-bound process per core beside everything measured (not niced, as a
# build or a VM would be). `busy_start` records their PIDs in HOGS; `busy_stop` ends them.
busy_start() {
  HOGS=""
  for _ in $(seq 1 "$(nproc)"); do
    sh -c 'while :; do :; done' & HOGS="$HOGS $!"
  done
}
busy_stop() {
  for pid in ${HOGS:-}; do kill "$pid" 2>/dev/null || true; done
  HOGS=""
}
