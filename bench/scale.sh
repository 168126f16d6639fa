#!/usr/bin/env bash
# The same lab three ways in one run: SQLite (one instance), PostgreSQL with one instance, and
# PostgreSQL with two instances. For each, wrk measures API reads (GET /api/v1/machines, 50
# machines) and reservation writes (POST /api/v1/reservations, every request a new free slot):
# requests a second and latency percentiles. Then the agent heartbeat load (10,000 agents every
# 10 s, signed, with a hardware report) against two instances on PostgreSQL.
#
#   bench/scale.sh                                          # 10 s a load, 3 runs; 10,000 agents, 60 s
#   DURATION=5 RUNS=1 AGENTS=2000 HB_DURATION=20 bench/scale.sh
#   PARTS=heartbeats bench/scale.sh                         # only the heartbeats (or PARTS=api)
#
# PostgreSQL runs with synchronous_commit=off, which matches SQLite's synchronous=NORMAL in WAL
# mode that baas uses (a power loss may lose the last commits, never consistency).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/baas/target}"
DURATION=${DURATION:-10}
RUNS=${RUNS:-3}
AGENTS=${AGENTS:-10000}
INTERVAL=${INTERVAL:-10}
HB_DURATION=${HB_DURATION:-60}
PARTS=${PARTS:-api heartbeats}
CONNECTIONS=${CONNECTIONS:-16}
WORK=${BENCH_DIR:-$HOME/.cache/baas/bench-scale}
PORTS=(13010 13011)

source "$ROOT/bench/lib.sh"
source "$ROOT/bench/postgres.sh"
install_missing wrk=wrk curl=curl jq=jq
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || install_missing psql=postgresql
release_baas
(cd "$ROOT" && cargo build -q --release -p baas-agent --example heartbeats)
LOAD="$CARGO_TARGET_DIR/release/examples/heartbeats"
PIDS=()

stop_instances() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  PIDS=()
}
cleanup() {
  stop_instances
  postgres_stop
  rm -rf "$WORK" "$WORK.reserve.lua"
}
trap cleanup EXIT

# Starts $1 instances of baas on database $2 (one image directory; the second copies the
# first's secret key), waiting until each answers.
start_instances() {
  local count=$1 database=$2 i
  for i in $(seq 0 $((count - 1))); do
    mkdir -p "$WORK/data$i"
    [ "$i" -gt 0 ] && cp "$WORK/data0/secret.key" "$WORK/data$i/"
    DATABASE_URL="$database" BAAS_DATA_DIR="$WORK/data$i" BAAS_IMAGE_DIR="$WORK/images" \
      BAAS_HTTP_ADDR="127.0.0.1:${PORTS[$i]}" BAAS_ADMIN_PASSWORD=bench-password-1 \
      BAAS_TFTP_ADDR=off BAAS_DHCP_MODE=off RUST_LOG=warn "$BAAS" serve &
    PIDS+=($!)
    for _ in $(seq 1 200); do curl -sf -o /dev/null "http://127.0.0.1:${PORTS[$i]}/healthz" && break; sleep 0.1; done
  done
}

# An admin token (through a log-in on the first instance) and 50 machines; sets TOKEN and MACHINE.
seed() {
  local base="http://127.0.0.1:${PORTS[0]}" jar="$WORK/cookies" i
  curl -sf -c "$jar" -o /dev/null -d 'username=admin&password=bench-password-1' "$base/api/login"
  TOKEN="Bearer $(curl -sf -b "$jar" -H 'content-type: application/json' -d '{"name":"bench"}' \
    "$base/api/v1/tokens" | jq -r .token)"
  for i in $(seq 1 50); do
    curl -sf -o /dev/null -H "authorization: $TOKEN" -H 'content-type: application/json' \
      -d "{\"name\":\"node$i\",\"macs\":\"02:00:00:00:01:$(printf %02x "$i")\",\"platform\":\"x86_64-uefi\",\"bmc_kind\":\"none\",\"state\":\"available\",\"tags\":\"bench\"}" \
      "$base/api/v1/machines"
  done
  MACHINE=$(curl -sf -H "authorization: $TOKEN" "$base/api/v1/machines" | jq '.items[0].id')
}

cat > "$WORK.reserve.lua" <<'LUA'
-- Every request books a new one-hour slot; slots are two hours apart per (instance, thread,
-- request), so none overlaps another and every write is a real booking.
local threads = 0
function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end
function init(args)
  base, machine, token, instance = tonumber(args[1]), args[2], args[3], tonumber(args[4])
  count = 0
end
function request()
  count = count + 1
  local slot = (count * 64 + id) * 2 + instance
  local start = base + slot * 7200
  local body = string.format('{"machine_id":%s,"start_at":%d,"end_at":%d}', machine, start, start + 3600)
  return wrk.format("POST", "/api/v1/reservations",
    {["authorization"] = token, ["content-type"] = "application/json"}, body)
end
LUA

# "requests/s p50 p99 non2xx" from wrk --latency output on stdin (latencies in ms).
parse_wrk() {
  awk '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    /Requests\/sec:/ { rps = $2 }
    /^ +50%/ { p50 = ms($2) }
    /^ +99%/ { p99 = ms($2) }
    /Non-2xx/ { bad = $NF }
    END { printf "%.0f %.2f %.2f %d\n", rps, p50, p99, bad + 0 }'
}

# Runs wrk ($@ after the URL path) against every instance at once; prints the summed requests/s,
# the worst p50 and p99, and the summed failures.
load() {
  local kind=$1 count=$2 i out=() loads=()
  for i in $(seq 0 $((count - 1))); do
    out+=("$WORK/wrk$i")
    if [ "$kind" = read ]; then
      wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency -H "authorization: $TOKEN" \
        "http://127.0.0.1:${PORTS[$i]}/api/v1/machines" > "$WORK/wrk$i" &
      loads+=($!)
    else
      wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$WORK.reserve.lua" \
        "http://127.0.0.1:${PORTS[$i]}" -- "$(( $(date +%s) + 86400 ))" "$MACHINE" "$TOKEN" "$i" > "$WORK/wrk$i" &
      loads+=($!)
    fi
  done
  wait "${loads[@]}"
  for f in "${out[@]}"; do parse_wrk < "$f"; done | awk '
    { rps += $1; if ($2 > p50) p50 = $2; if ($3 > p99) p99 = $3; bad += $4 }
    END { printf "%.0f %.2f %.2f %d\n", rps, p50, p99, bad }'
}

declare -A READS WRITES
SETUPS=(sqlite postgres-1 postgres-2)
case " $PARTS " in *" api "*) ;; *) RUNS=0 ;; esac
[ "$RUNS" -gt 0 ] && echo "== API reads and reservation writes: ${DURATION} s each, $CONNECTIONS connections an instance, $RUNS runs"
[ "$RUNS" -gt 0 ] && printf '%-4s %-11s %10s %8s %8s %6s | %10s %8s %8s %6s\n' run setup "reads/s" p50ms p99ms fail "writes/s" p50ms p99ms fail
for run in $(seq 1 "$RUNS"); do
  for setup in "${SETUPS[@]}"; do
    rm -rf "$WORK" && mkdir -p "$WORK"
    case $setup in
      sqlite) database="sqlite://$WORK/data0/baas.db"; count=1 ;;
      postgres-*)
        postgres_start -c synchronous_commit=off
        database="$PG_URL"; count=${setup#postgres-} ;;
    esac
    # The Lua script lives beside the work directory, which each setup starts afresh.
    start_instances "$count" "$database"
    seed
    read -r rps rp50 rp99 rbad < <(load read "$count")
    read -r wps wp50 wp99 wbad < <(load write "$count")
    printf '%-4s %-11s %10s %8s %8s %6s | %10s %8s %8s %6s\n' "$run" "$setup" "$rps" "$rp50" "$rp99" "$rbad" "$wps" "$wp50" "$wp99" "$wbad"
    READS[$setup]+="$rps "
    WRITES[$setup]+="$wps "
    stop_instances
    postgres_stop
  done
done
[ "$RUNS" -gt 0 ] && echo "== min / median / max requests a second over $RUNS runs, and the ratio of medians to SQLite"
[ "$RUNS" -gt 0 ] && for setup in "${SETUPS[@]}"; do
  read -r rmin rmed rmax < <(tr ' ' '\n' <<< "${READS[$setup]}" | grep . | spread)
  read -r wmin wmed wmax < <(tr ' ' '\n' <<< "${WRITES[$setup]}" | grep . | spread)
  [ "$setup" = sqlite ] && { base_r=$rmed; base_w=$wmed; }
  printf '%-11s reads %.0f / %.0f / %.0f (%.2fx)   writes %.0f / %.0f / %.0f (%.2fx)\n' "$setup" \
    "$rmin" "$rmed" "$rmax" "$(calc "$rmed / $base_r")" "$wmin" "$wmed" "$wmax" "$(calc "$wmed / $base_w")"
done

case " $PARTS " in *" heartbeats "*) ;; *) exit 0 ;; esac
echo "== $AGENTS agents heartbeating every $INTERVAL s for $HB_DURATION s against two instances on PostgreSQL"
rm -rf "$WORK" && mkdir -p "$WORK"
postgres_start -c synchronous_commit=off
start_instances 2 "$PG_URL"
"$LOAD" "http://127.0.0.1:${PORTS[0]},http://127.0.0.1:${PORTS[1]}" "$PG_URL" "$AGENTS" "$INTERVAL" "$HB_DURATION"
for pid in "${PIDS[@]}"; do
  echo "  baas $pid peak RSS: $(awk '/VmHWM/ {print $2 / 1024 " MiB"}' "/proc/$pid/status")"
done
