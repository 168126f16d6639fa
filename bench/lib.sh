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

# baas (release) in the VM lab's server namespace as ProxyDHCP + TFTP + HTTP with the management
# OS in $MGMT, data under $WORK/data, an admin session in $JAR and the lab's VM added as an IPMI
# machine named $1 of platform $2 (its BMC the lab's ipmi_sim). Expects the lab's env sourced
# (VMLAB_*), MAC, MGMT, WORK and BAAS. Sets SRV, BASE, PIDS, JAR, MACHINE, SESSION and in_srv.
vm_lab_baas() {
  SRV=$VMLAB_SRV_NS
  BASE=http://$VMLAB_SERVER_IP:3000
  BAAS_HTTP_ADDR=0.0.0.0:3000 BAAS_PUBLIC_URL=$BASE BAAS_DATA_DIR="$WORK/data" BAAS_ADMIN_PASSWORD=bench-password-1 \
    BAAS_DHCP_MODE=proxy BAAS_DHCP_INTERFACES=eth0 BAAS_TFTP_ADDR=0.0.0.0:69 \
    BAAS_MGMT_KERNEL="$MGMT/vmlinuz" BAAS_MGMT_INITRD="$MGMT/initrd.img" BAAS_MGMT_CMDLINE='console=ttyS0,115200' \
    RUST_LOG=warn ip netns exec "$SRV" "$BAAS" serve & PIDS="$!"
  for _ in $(seq 1 100); do in_srv curl -sf -o /dev/null "$BASE/healthz" && break; sleep 0.1; done
  JAR="$WORK/cookies"
  in_srv curl -sf -c "$JAR" -o /dev/null -d 'username=admin&password=bench-password-1' "$BASE/api/login"
  MACHINE=$(in_srv curl -sf -b "$JAR" --data-urlencode "input[name]=$1" --data-urlencode "input[macs]=$MAC" \
    --data-urlencode "input[platform]=$2" --data-urlencode 'input[bmc_kind]=ipmi' \
    --data-urlencode "input[bmc_address]=$VMLAB_BMC" --data-urlencode 'input[bmc_username]=admin' \
    --data-urlencode 'input[bmc_password]=password' --data-urlencode 'input[state]=available' \
    "$BASE/api/admin/create_machine" | sed -E 's/^\{"id":([0-9]+).*/\1/')
  # Every cookie of the jar (the session and the known-device one), as a Cookie header.
  SESSION=$(awk 'NF >= 7 && !/^# / { printf "%s%s=%s", sep, $6, $7; sep = "; " }' "$JAR")
}
in_srv() { ip netns exec "$SRV" "$@"; }

# A server namespace and a client namespace joined by a veth (bds$$ in NS_SERVER, bdc$$ in
# NS_CLIENT), both up, removed on exit with the server started in SERVER_PID and WORK. For the
# DHCP benchmarks; the caller addresses the ends.
SERVER_PID=""
stop_server() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  SERVER_PID=""
}
namespace_pair() {
  NS_SERVER=$1-srv$$ NS_CLIENT=$1-cli$$
  trap 'stop_server; ip netns del "$NS_SERVER" 2>/dev/null || true; ip netns del "$NS_CLIENT" 2>/dev/null || true; rm -rf "$WORK"' EXIT
  ip netns add "$NS_SERVER"
  ip netns add "$NS_CLIENT"
  ip link add bds$$ type veth peer name bdc$$
  ip link set bds$$ netns "$NS_SERVER"
  ip link set bdc$$ netns "$NS_CLIENT"
  for ns in "$NS_SERVER" "$NS_CLIENT"; do ip -n "$ns" link set lo up; done
  ip -n "$NS_SERVER" link set bds$$ up
  ip -n "$NS_CLIENT" link set bdc$$ up
}

# perfdhcp's output ($1, run with -x t) over $2 seconds as "answers/s drops% avg_ms p99_ms"; p99
# from its per-exchange timestamps ("sent / received: <s> / <s>").
perfdhcp_summary() {
  local out=$1 secs=$2 n p99=-1
  grep '^sent / received:' "$out" | awk '{ printf "%.6f\n", ($6 - $4) * 1000 }' | sort -g >"$out.delays"
  n=$(wc -l <"$out.delays")
  if [ "$n" -gt 0 ]; then
    p99=$(sed -n "$(( (99 * n + 99) / 100 ))p" "$out.delays")
  fi
  awk -v secs="$secs" -v p99="$p99" '
    /^sent packets:/ { sent = $3 }
    /^received packets:/ { received = $3 }
    /^avg delay:/ { avg = $3 }
    END { printf "%.0f %.2f %s %.3f\n", received / secs, (sent > 0 ? 100 * (sent - received) / sent : 0), avg, p99 }' "$out"
}

# "answers ratio, p99 ratio" of baas ($1: "ops drop avg p99") against the reference ($2).
ratios() {
  local b_ops d_ops b_p99 d_p99
  read -r b_ops _ _ b_p99 <<<"$1"
  read -r d_ops _ _ d_p99 <<<"$2"
  awk -v b="$b_ops" -v d="$d_ops" -v bp="$b_p99" -v dp="$d_p99" 'BEGIN {
    if (d > 0) printf "%.2fx, ", b / d; else printf "n/a, "
    if (bp > 0) printf "%.2fx", dp / bp; else printf "n/a" }'
}
