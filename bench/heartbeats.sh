#!/usr/bin/env bash
# 10,000 simulated agents heartbeating every 10 s (1,000 signed requests a second, each with a
# hardware report) against the release build of baas on SQLite, on loopback. Prints requests,
# errors and latency percentiles per run, and baas' peak RSS.
#
#   bench/heartbeats.sh                       # 10000 agents, 10 s interval, 60 s, 3 runs
#   AGENTS=2000 DURATION=20 RUNS=1 bench/heartbeats.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/baas/target}"
AGENTS=${AGENTS:-10000}
INTERVAL=${INTERVAL:-10}
DURATION=${DURATION:-60}
RUNS=${RUNS:-3}
WORK=${BENCH_DIR:-$HOME/.cache/baas/bench-heartbeats}
BAAS_PORT=${BAAS_PORT:-13002}

source "$ROOT/bench/lib.sh"
install_missing curl=curl
release_baas
(cd "$ROOT" && cargo build -q --release -p baas-agent --example heartbeats)
LOAD="$CARGO_TARGET_DIR/release/examples/heartbeats"

cleanup() {
  [ -n "${BAAS_PID:-}" ] && kill "$BAAS_PID" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
for run in $(seq 1 "$RUNS"); do
  rm -rf "$WORK" && mkdir -p "$WORK/data"
  BAAS_HTTP_ADDR=127.0.0.1:$BAAS_PORT BAAS_DATA_DIR="$WORK/data" BAAS_ADMIN_PASSWORD=bench-password-1 \
    BAAS_TFTP_ADDR=off BAAS_DHCP_MODE=off RUST_LOG=warn "$BAAS" serve & BAAS_PID=$!
  for _ in $(seq 1 100); do curl -sf -o /dev/null "http://127.0.0.1:$BAAS_PORT/healthz" && break; sleep 0.1; done
  printf 'run %d: ' "$run"
  "$LOAD" "http://127.0.0.1:$BAAS_PORT" "sqlite://$WORK/data/baas.db" "$AGENTS" "$INTERVAL" "$DURATION"
  echo "  baas peak RSS: $(awk '/VmHWM/ {print $2 / 1024 " MiB"}' /proc/$BAAS_PID/status)"
  kill "$BAAS_PID"; wait "$BAAS_PID" 2>/dev/null || true; BAAS_PID=""
done
