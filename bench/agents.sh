#!/usr/bin/env bash
# Many machines reimaged at once: N real agents (default 20), each in its own network namespace
# on a bridge with baas (as machines on a lab network are), each deploying the same zstd image
# into its own file; beside them, in the same run, N `curl`s downloading that image from the same
# namespaces. Prints each run's wall time and aggregate throughput (image bytes delivered per
# second, all agents together), min/median/max, the ratio curl time / agent time, and baas' peak
# RSS over the whole run.
#
#   bench/agents.sh                          # 20 agents, 1 GiB image, 3 runs
#   AGENTS=5 SIZE_MIB=256 RUNS=1 bench/agents.sh
#
# Needs root (namespaces), release builds of baas and of the static agent (built here), curl, zstd.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/baas/target}"
AGENTS=${AGENTS:-20}
SIZE_MIB=${SIZE_MIB:-1024}
RUNS=${RUNS:-3}
WORK=${BENCH_DIR:-$HOME/.cache/baas/bench-agents}
NS=bbench$$
BASE=http://10.97.0.1:3000

source "$ROOT/bench/lib.sh"
install_missing curl=curl zstd=zstd
release_baas
(cd "$ROOT" && cargo build -q --release -p baas-agent --target x86_64-unknown-linux-musl)
AGENT="$CARGO_TARGET_DIR/x86_64-unknown-linux-musl/release/baas-agent"

cleanup() {
  [ -n "${BAAS_PID:-}" ] && kill "$BAAS_PID" 2>/dev/null || true
  wait 2>/dev/null || true
  for i in $(seq 1 "$AGENTS"); do ip netns del "${NS}a$i" 2>/dev/null || true; done
  ip netns del "${NS}s" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
rm -rf "$WORK" && mkdir -p "$WORK/data" "$WORK/disks"

# baas' namespace holds the bridge; each agent's namespace one end of a veth pair on it.
ip netns add "${NS}s"
ip -n "${NS}s" link set lo up
ip -n "${NS}s" link add br0 type bridge
ip -n "${NS}s" addr add 10.97.0.1/24 dev br0
ip -n "${NS}s" link set br0 up
for i in $(seq 1 "$AGENTS"); do
  ip netns add "${NS}a$i"
  ip -n "${NS}a$i" link set lo up
  ip -n "${NS}s" link add "v$i" type veth peer name eth0 netns "${NS}a$i"
  ip -n "${NS}s" link set "v$i" master br0 up
  ip -n "${NS}a$i" addr add "10.97.0.$(( 10 + i ))/24" dev eth0
  ip -n "${NS}a$i" link set eth0 up
done

echo "preparing a ${SIZE_MIB} MiB image (zstd -3) under $WORK"
make_image "$SIZE_MIB" "$WORK/disk.img"
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
IMAGE=$(in_srv curl -sf -b "$JAR" -T "$WORK/disk.img.zst" "$BASE/api/v1/images/bench?visibility=public" | grep -o '"id":[0-9]*' | head -1 | cut -d: -f2)
MACHINES=()
for i in $(seq 1 "$AGENTS"); do
  MACHINES+=("$(in_srv curl -sf -b "$JAR" --data-urlencode "input[name]=bench-$i" \
    --data-urlencode "input[macs]=$(printf '52:54:00:be:0d:%02x' "$i")" \
    --data-urlencode "input[ip_address]=10.97.0.$(( 10 + i ))" --data-urlencode 'input[platform]=x86_64-bios' \
    --data-urlencode 'input[bmc_kind]=none' --data-urlencode 'input[state]=available' \
    "$BASE/api/admin/create_machine" | sed -E 's/^\{"id":([0-9]+).*/\1/')")
done

now() { date +%s.%N; }

# Every agent at once: a deploy job each, its boot script (the token) fetched from the machine's
# own address, then all agents started together. Prints the seconds until the last one is done.
agents_run() {
  local i mac token start pids=()
  for i in $(seq 1 "$AGENTS"); do
    in_srv curl -sf -b "$JAR" -o /dev/null -d "machine_id=${MACHINES[$((i - 1))]}&kind=deploy&image_id=$IMAGE" "$BASE/api/jobs/create"
  done
  start=$(now)
  for i in $(seq 1 "$AGENTS"); do
    mac=$(printf '52:54:00:be:0d:%02x' "$i")
    token=$(ip netns exec "${NS}a$i" curl -sf "$BASE/boot/$mac.ipxe" | grep -o 'baas.token=[^ ]*' | cut -d= -f2)
    ip netns exec "${NS}a$i" "$AGENT" --url "$BASE" --token "$token" --mac "$mac" --disk "$WORK/disks/$i" \
      --no-reboot --cmdline /dev/null 2>"$WORK/agent-$i.log" & pids+=($!)
  done
  for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || { echo "agent $((i + 1)) failed:" >&2; tail -5 "$WORK/agent-$((i + 1)).log" >&2; exit 1; }
  done
  echo "$(now) - $start" | bc
  for i in $(seq 1 "$AGENTS"); do
    mac=$(printf '52:54:00:be:0d:%02x' "$i")
    ip netns exec "${NS}a$i" curl -sf -o /dev/null "$BASE/boot/$mac.ipxe"  # the local boot: job booted
  done
  [ "$(head -c $(( SIZE_MIB * 1024 * 1024 )) "$WORK/disks/$AGENTS" | sha256sum | cut -d' ' -f1)" = "$RAW_SHA" ] \
    || { echo "wrong bytes on disk $AGENTS" >&2; exit 1; }
  local booted
  booted=$(in_srv curl -sf -b "$JAR" "$BASE/api/v1/jobs?limit=1000" \
    | python3 -c 'import json, sys; print(sum(j["state"] == "booted" for j in json.load(sys.stdin)["items"]))')
  [ "$booted" -eq "$AGENTS" ] || { echo "only $booted of $AGENTS jobs ended booted" >&2; exit 1; }
}

# The same number of plain downloads of the image, from the same namespaces. Prints seconds.
curls_run() {
  local i start pids=()
  start=$(now)
  for i in $(seq 1 "$AGENTS"); do
    ip netns exec "${NS}a$i" curl -sf -b "$JAR" -o /dev/null "$BASE/images/$IMAGE/content" & pids+=($!)
  done
  wait "${pids[@]}"
  echo "$(now) - $start" | bc
}

stats() {  # min median max of the numbers on stdin
  sort -g | awk '{ v[NR] = $1 } END { printf "%.2f %.2f %.2f\n", v[1], v[int((NR + 1) / 2)], v[NR] }'
}
rate() { echo "$AGENTS * $STORED / $1 / 1048576" | bc -l | xargs printf '%.0f'; }

agents=() curls=()
for run in $(seq 1 "$RUNS"); do
  curls+=("$(curls_run)")
  agents+=("$(agents_run)")
  echo "run $run: $AGENTS curls ${curls[-1]} s ($(rate "${curls[-1]}") MiB/s), $AGENTS agents ${agents[-1]} s ($(rate "${agents[-1]}") MiB/s of image stream)"
  rm -f "$WORK"/disks/*
done
read -r cmin cmed cmax < <(printf '%s\n' "${curls[@]}" | stats)
read -r amin amed amax < <(printf '%s\n' "${agents[@]}" | stats)
printf '%d agents, %d MiB image (%d MiB stored): curls %s/%s/%s s, agents %s/%s/%s s (min/median/max); ratio (median) %.2fx\n' \
  "$AGENTS" "$SIZE_MIB" $(( STORED / 1048576 )) "$cmin" "$cmed" "$cmax" "$amin" "$amed" "$amax" "$(echo "$cmed / $amed" | bc -l)"
echo "baas peak RSS: $(awk '/VmHWM/ {print $2 / 1024 " MiB"}' /proc/$BAAS_PID/status)"
