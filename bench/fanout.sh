#!/usr/bin/env bash
# One image to many machines when baas' link is the bottleneck: a batch of N real agents, each
# in its own network namespace on one bridge, every link shaped with tc to RATE (100 Mbit/s: a
# 1 GbE lab scaled down by 10) — baas' own link too, so N direct streams share it. Each agent
# writes the image (SIZE_MIB of incompressible data, zstd) to a file in /dev/shm. Time = from the
# batch's creation until the last agent reported its verified disk. For each N: the batch with
# direct streams (each agent from baas) and with the relay (a pipeline of the agents), RUNS
# times each, min/median/max, the ratios T(N)/T(1) and relay/direct, and baas' CPU seconds and
# peak RSS per N.
#
#   bench/fanout.sh                              # N = 1 8 32, 64 MiB, 100mbit, 3 runs
#   COUNTS="1 8" RUNS=1 SIZE_MIB=32 bench/fanout.sh
#
# Needs root (namespaces, tc), release builds of baas and of the static agent (built here),
# curl, zstd, python3.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/baas/target}"
COUNTS=${COUNTS:-"1 8 32"}
SIZE_MIB=${SIZE_MIB:-64}
RATE=${RATE:-100mbit}
RUNS=${RUNS:-3}
WORK=${BENCH_DIR:-$HOME/.cache/baas/bench-fanout}
DISKS=/dev/shm/baas-fanout$$
NS=bfan$$
BASE=http://10.98.0.1:3000

source "$ROOT/bench/lib.sh"
install_missing curl=curl zstd=zstd python3=python3 tc=iproute2
release_baas
(cd "$ROOT" && cargo build -q --release -p baas-agent --target x86_64-unknown-linux-musl)
AGENT="$CARGO_TARGET_DIR/x86_64-unknown-linux-musl/release/baas-agent"
MAX=$(printf '%s\n' $COUNTS | sort -g | tail -1)

cleanup() {
  [ -n "${BAAS_PID:-}" ] && kill "$BAAS_PID" 2>/dev/null || true
  wait 2>/dev/null || true
  for i in $(seq 1 "$MAX"); do ip netns del "${NS}a$i" 2>/dev/null || true; done
  ip netns del "${NS}s" 2>/dev/null || true
  ip netns del "${NS}h" 2>/dev/null || true
  rm -rf "$WORK" "$DISKS"
}
trap cleanup EXIT
rm -rf "$WORK" && mkdir -p "$WORK/data" "$DISKS"

# Shapes what leaves `dev` in namespace `ns` to RATE.
shape() { ip netns exec "$1" tc qdisc add dev "$2" root tbf rate "$RATE" burst 256kb latency 100ms; }

# A hub namespace holds the bridge; baas' namespace and each agent's hang on it by a veth, each
# end shaped: baas uploads and downloads at RATE in all, and so does each agent.
ip netns add "${NS}h"
ip -n "${NS}h" link set lo up
ip -n "${NS}h" link add br0 type bridge
ip -n "${NS}h" link set br0 up
ip netns add "${NS}s"
ip -n "${NS}s" link set lo up
ip -n "${NS}h" link add s0 type veth peer name eth0 netns "${NS}s"
ip -n "${NS}h" link set s0 master br0 up
ip -n "${NS}s" addr add 10.98.0.1/16 dev eth0
ip -n "${NS}s" link set eth0 up
shape "${NS}s" eth0
shape "${NS}h" s0
for i in $(seq 1 "$MAX"); do
  ip netns add "${NS}a$i"
  ip -n "${NS}a$i" link set lo up
  ip -n "${NS}h" link add "v$i" type veth peer name eth0 netns "${NS}a$i"
  ip -n "${NS}h" link set "v$i" master br0 up
  ip -n "${NS}a$i" addr add "10.98.$(( i / 200 )).$(( 10 + i % 200 ))/16" dev eth0
  ip -n "${NS}a$i" link set eth0 up
  shape "${NS}a$i" eth0
  shape "${NS}h" "v$i"
done
agent_ip() { echo "10.98.$(( $1 / 200 )).$(( 10 + $1 % 200 ))"; }

echo "preparing a ${SIZE_MIB} MiB image of random data (zstd -1) under $WORK"
head -c "${SIZE_MIB}M" /dev/urandom > "$WORK/disk.img"
printf '\x55\xaa' | dd of="$WORK/disk.img" bs=1 seek=510 conv=notrunc status=none
zstd -q -1 "$WORK/disk.img" -o "$WORK/disk.img.zst"
STORED=$(stat -c %s "$WORK/disk.img.zst")
RAW_SHA=$(sha256sum "$WORK/disk.img" | cut -d' ' -f1)
rm -f "$WORK/disk.img"

in_srv() { ip netns exec "${NS}s" "$@"; }
BAAS_HTTP_ADDR=0.0.0.0:3000 BAAS_PUBLIC_URL=$BASE BAAS_DATA_DIR="$WORK/data" BAAS_ADMIN_PASSWORD=bench-password-1 \
  BAAS_TFTP_ADDR=off BAAS_DHCP_MODE=off BAAS_MGMT_KERNEL="$WORK/disk.img.zst" RUST_LOG=warn \
  ip netns exec "${NS}s" "$BAAS" serve & BAAS_PID=$!
for _ in $(seq 1 100); do in_srv curl -sf -o /dev/null "$BASE/healthz" && break; sleep 0.1; done
JAR="$WORK/cookies"
in_srv curl -sf -c "$JAR" -o /dev/null -d 'username=admin&password=bench-password-1' "$BASE/api/login"
IMAGE=$(in_srv curl -sf -b "$JAR" -T "$WORK/disk.img.zst" "$BASE/api/v1/images/fanout?visibility=public" | grep -o '"id":[0-9]*' | head -1 | cut -d: -f2)
MACHINES=()
for i in $(seq 1 "$MAX"); do
  MACHINES+=("$(in_srv curl -sf -b "$JAR" --data-urlencode "input[name]=fan-$i" \
    --data-urlencode "input[macs]=$(printf '52:54:00:be:%02x:%02x' $(( i / 256 )) $(( i % 256 )))" \
    --data-urlencode "input[ip_address]=$(agent_ip "$i")" --data-urlencode 'input[platform]=x86_64-bios' \
    --data-urlencode 'input[bmc_kind]=none' --data-urlencode 'input[state]=available' \
    "$BASE/api/admin/create_machine" | sed -E 's/^\{"id":([0-9]+).*/\1/')")
done

now() { date +%s.%N; }
cpu_seconds() { awk '{ printf "%.2f\n", ($14 + $15) / 100 }' "/proc/$BAAS_PID/stat"; }
# "busy total" jiffies of the whole machine, to say how busy its cores were during a run.
machine_jiffies() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $2 + $3 + $4 + $5 + $6 + $7 + $8 }' /proc/stat; }

# One batch of the first $1 machines with transfer $2; the agents start as their machines would
# boot, all at once. Prints the seconds from the batch's creation to the last verified disk.
batch_run() {
  local n=$1 transfer=$2 i mac start ids batch busy_before all_before busy_after all_after pids=() tokens=()
  ids=$(printf '%s,' "${MACHINES[@]:0:$n}")
  start=$(now)
  read -r busy_before all_before < <(machine_jiffies)
  batch=$(in_srv curl -sS --fail-with-body -b "$JAR" -H 'content-type: application/json' \
    -d "{\"image_id\": $IMAGE, \"machines\": [${ids%,}], \"transfer\": \"$transfer\"}" "$BASE/api/v1/batches") \
    || { echo "the batch was refused: $batch" >&2; exit 1; }
  batch=$(echo "$batch" | grep -o '"id":[0-9]*' | head -1 | cut -d: -f2)
  # The machines' network boots (their boot scripts, with the tokens) together, then the agents.
  for i in $(seq 1 "$n"); do
    mac=$(printf '52:54:00:be:%02x:%02x' $(( i / 256 )) $(( i % 256 )))
    ip netns exec "${NS}a$i" curl -sf -o "$WORK/script-$i" "$BASE/boot/$mac.ipxe" &
  done
  wait
  for i in $(seq 1 "$n"); do
    mac=$(printf '52:54:00:be:%02x:%02x' $(( i / 256 )) $(( i % 256 )))
    tokens[$i]=$(grep -o 'baas.token=[^ ]*' "$WORK/script-$i" | cut -d= -f2)
  done
  for i in $(seq 1 "$n"); do
    mac=$(printf '52:54:00:be:%02x:%02x' $(( i / 256 )) $(( i % 256 )))
    ip netns exec "${NS}a$i" "$AGENT" --url "$BASE" --token "${tokens[$i]}" --mac "$mac" --disk "$DISKS/$i" \
      --no-reboot --cmdline /dev/null 2>"$WORK/agent-$i.log" & pids+=($!)
  done
  for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || { echo "agent $((i + 1)) failed:" >&2; tail -5 "$WORK/agent-$((i + 1)).log" >&2; exit 1; }
  done
  echo "$(now) - $start" | bc
  read -r busy_after all_after < <(machine_jiffies)
  calc "100 * ($busy_after - $busy_before) / ($all_after - $all_before)" >> "$WORK/busy"
  for i in $(seq 1 "$n"); do
    mac=$(printf '52:54:00:be:%02x:%02x' $(( i / 256 )) $(( i % 256 )))
    ip netns exec "${NS}a$i" curl -sf -o /dev/null "$BASE/boot/$mac.ipxe"  # the local boot: the job ends
  done
  # Without a console the job runner ends each job boot-unobserved; the next run needs them ended.
  for _ in $(seq 1 100); do
    in_srv curl -sf -b "$JAR" "$BASE/api/v1/batches/$batch" | grep -q '"state":"\(queued\|powering\|netbooting\|enrolled\|writing\|verifying\|rebooting\|booting\)"' || break
    sleep 0.2
  done
  [ "$(sha256sum "$DISKS/$n" | cut -d' ' -f1)" = "$RAW_SHA" ] || { echo "wrong bytes on disk $n" >&2; exit 1; }
  if [ "$transfer" = relay ] && [ "$n" -gt 1 ]; then
    local relayed
    relayed=$(cat "$WORK"/agent-*.log | grep -c 'streaming from the agent of job' || true)
    [ "$relayed" -ge $(( n - 1 )) ] || { echo "only $relayed of $n agents streamed from another" >&2; exit 1; }
  fi
  rm -f "$DISKS"/* "$WORK"/agent-*.log "$WORK"/script-*
}

declare -A MEDIAN
echo "N mode min median max (s) | baas CPU s per run | the cores busy while the agents ran (median %)"
for n in $COUNTS; do
  for transfer in direct relay; do
    [ "$n" -eq 1 ] && [ "$transfer" = relay ] && continue
    times=() cpu_before=$(cpu_seconds)
    rm -f "$WORK/busy"
    for _ in $(seq 1 "$RUNS"); do times+=("$(batch_run "$n" "$transfer")"); done
    cpu=$(calc "($(cpu_seconds) - $cpu_before) / $RUNS")
    busy=$(spread < "$WORK/busy" | awk '{ printf "%.0f", $2 }')
    read -r tmin tmed tmax < <(printf '%s\n' "${times[@]}" | spread)
    MEDIAN[$n-$transfer]=$tmed
    echo "$n $transfer $tmin $tmed $tmax | $cpu | $busy %"
  done
done
one=${MEDIAN[1-direct]:-}
if [ -n "$one" ]; then
  for n in $COUNTS; do
    [ "$n" -eq 1 ] && continue
    printf 'N=%s: direct T(N)/T(1) %.2f, relay T(N)/T(1) %.2f, relay/direct %.2f\n' "$n" \
      "$(calc "${MEDIAN[$n-direct]} / $one")" "$(calc "${MEDIAN[$n-relay]} / $one")" \
      "$(calc "${MEDIAN[$n-relay]} / ${MEDIAN[$n-direct]}")"
  done
fi
echo "image: ${SIZE_MIB} MiB raw, $(( STORED / 1048576 )) MiB stored; links $RATE; baas peak RSS $(awk '/VmHWM/ {print $2 / 1024 " MiB"}' /proc/$BAAS_PID/status)"
