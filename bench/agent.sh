#!/usr/bin/env bash
# The agent's write path beside `curl | zstd -dc | dd bs=4M oflag=direct`, both pulling the same
# zstd image from baas over loopback into the same target (a file on tmpfs, then a loop device),
# in one run. The agent does what it does on a machine: stream, check the received SHA-256,
# decompress, write, flush, read back and check the written SHA-256; the reference only writes.
# Prints each run, min/median/max and the ratio (reference time / agent time).
#
#   bench/agent.sh                    # 1 GiB image, 5 runs per target
#   SIZE_MIB=256 RUNS=3 bench/agent.sh
#
# Needs: release builds of baas and of the static agent (built here), curl, zstd, losetup.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/baas/target}"
SIZE_MIB=${SIZE_MIB:-1024}
RUNS=${RUNS:-5}
WORK=${BENCH_DIR:-$HOME/.cache/baas/bench-agent}
BAAS_PORT=${BAAS_PORT:-13001}
MAC=52:54:00:be:0c:01

source "$ROOT/bench/lib.sh"
install_missing curl=curl zstd=zstd losetup=mount
release_baas
(cd "$ROOT" && cargo build -q --release -p baas-agent --target x86_64-unknown-linux-musl)
AGENT="$CARGO_TARGET_DIR/x86_64-unknown-linux-musl/release/baas-agent"

rm -rf "$WORK" && mkdir -p "$WORK/data" "$WORK/tmpfs"
mount -t tmpfs -o size=$(( SIZE_MIB * 3 + 64 ))m baas-bench "$WORK/tmpfs"
LOOP=""
cleanup() {
  [ -n "${BAAS_PID:-}" ] && kill "$BAAS_PID" 2>/dev/null || true
  wait 2>/dev/null || true
  [ -n "$LOOP" ] && losetup -d "$LOOP" 2>/dev/null || true
  umount "$WORK/tmpfs" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "preparing a ${SIZE_MIB} MiB image (zstd -3) under $WORK"
make_image "$SIZE_MIB" "$WORK/disk.img"

BAAS_HTTP_ADDR=127.0.0.1:$BAAS_PORT BAAS_DATA_DIR="$WORK/data" BAAS_ADMIN_PASSWORD=bench-password-1 \
  BAAS_TFTP_ADDR=off BAAS_DHCP_MODE=off BAAS_MGMT_KERNEL="$WORK/disk.img.zst" RUST_LOG=warn \
  "$BAAS" serve & BAAS_PID=$!
for _ in $(seq 1 100); do curl -sf -o /dev/null "http://127.0.0.1:$BAAS_PORT/healthz" && break; sleep 0.1; done
BASE="http://127.0.0.1:$BAAS_PORT"
JAR="$WORK/cookies"
curl -sf -c "$JAR" -o /dev/null -d 'username=admin&password=bench-password-1' "$BASE/api/login"
MACHINE=$(curl -sf -b "$JAR" --data-urlencode 'input[name]=bench-01' --data-urlencode "input[macs]=$MAC" \
  --data-urlencode 'input[ip_address]=127.0.0.1' --data-urlencode 'input[platform]=x86_64-bios' \
  --data-urlencode 'input[bmc_kind]=none' --data-urlencode 'input[state]=available' \
  "$BASE/api/admin/create_machine" | sed -E 's/^\{"id":([0-9]+).*/\1/')
IMAGE=$(curl -sf -b "$JAR" -T "$WORK/disk.img.zst" "$BASE/api/v1/images/bench" | grep -o '"id":[0-9]*' | head -1 | cut -d: -f2)
RAW_SHA=$(sha256sum "$WORK/disk.img" | cut -d' ' -f1)
rm -f "$WORK/disk.img"

# One deploy by the agent into $1: a job, the machine's boot script (its token), the agent, and
# the next boot script (which ends the job). Prints seconds.
agent_run() {
  curl -sf -b "$JAR" -o /dev/null -d "machine_id=$MACHINE&kind=deploy&image_id=$IMAGE" "$BASE/api/jobs/create"
  local token start end
  token=$(curl -sf "$BASE/boot/$MAC.ipxe" | grep -o 'baas.token=[^ ]*' | cut -d= -f2)
  start=$(date +%s.%N)
  "$AGENT" --url "$BASE" --token "$token" --mac "$MAC" --disk "$1" --no-reboot --cmdline /dev/null 2>/dev/null
  end=$(date +%s.%N)
  curl -sf -o /dev/null "$BASE/boot/$MAC.ipxe"
  echo "$end - $start" | bc
}

# The reference: stream, decompress, write with O_DIRECT. Prints seconds.
reference_run() {
  local start end
  start=$(date +%s.%N)
  curl -sf -b "$JAR" "$BASE/images/$IMAGE/content" | zstd -dc | dd of="$1" bs=4M oflag=direct iflag=fullblock status=none
  end=$(date +%s.%N)
  echo "$end - $start" | bc
}

stats() {  # min median max of the numbers on stdin
  sort -g | awk '{ v[NR] = $1 } END { printf "%.3f %.3f %.3f\n", v[1], v[int((NR + 1) / 2)], v[NR] }'
}

measure() {  # target label reference-label
  local target=$1 label=$2 name=$3 agent=() reference=() i
  for i in $(seq 1 "$RUNS"); do
    reference+=("$(reference_run "$target")")
    agent+=("$(agent_run "$target")")
    [ "$(head -c $(( SIZE_MIB * 1024 * 1024 )) "$target" | sha256sum | cut -d' ' -f1)" = "$RAW_SHA" ] || { echo "wrong bytes on $target" >&2; exit 1; }
    echo "  $label run $i: reference ${reference[-1]} s, agent ${agent[-1]} s"
  done
  read -r rmin rmed rmax < <(printf '%s\n' "${reference[@]}" | stats)
  read -r amin amed amax < <(printf '%s\n' "${agent[@]}" | stats)
  printf '%s, %d MiB: %s %s/%s/%s s, agent %s/%s/%s s (min/median/max); ratio (median) %.2fx\n' \
    "$label" "$SIZE_MIB" "$name" "$rmin" "$rmed" "$rmax" "$amin" "$amed" "$amax" "$(echo "$rmed / $amed" | bc -l)"
}

echo "tmpfs file:"
touch "$WORK/tmpfs/target"
# tmpfs has no O_DIRECT: the reference writes through the page cache there.
reference_run() {
  local start end
  start=$(date +%s.%N)
  curl -sf -b "$JAR" "$BASE/images/$IMAGE/content" | zstd -dc | dd of="$1" bs=4M iflag=fullblock status=none
  end=$(date +%s.%N)
  echo "$end - $start" | bc
}
measure "$WORK/tmpfs/target" "tmpfs file" "curl|zstd -dc|dd"
rm -f "$WORK/tmpfs/target"

echo "loop device (backed by a tmpfs file):"
truncate -s $(( SIZE_MIB + 16 ))M "$WORK/tmpfs/backing"
LOOP=$(losetup --find --show --direct-io=on "$WORK/tmpfs/backing" 2>/dev/null || losetup --find --show "$WORK/tmpfs/backing")
reference_run() {
  local start end
  start=$(date +%s.%N)
  curl -sf -b "$JAR" "$BASE/images/$IMAGE/content" | zstd -dc | dd of="$1" bs=4M oflag=direct iflag=fullblock status=none
  end=$(date +%s.%N)
  echo "$end - $start" | bc
}
measure "$LOOP" "loop device" "curl|zstd -dc|dd oflag=direct"
