#!/usr/bin/env bash
# The serial console beside ipmitool at the same ipmi_sim, several runs (see bench/console.py
# for what one run does): keystroke-to-echo latency over 1,000 keystrokes (baas through its
# WebSocket, as the browser's terminal; ipmitool -I lanplus sol activate on a pseudo-terminal),
# a 1 MiB burst (every byte in order, rate), then 20 consoles recording at once with 50 viewers
# on one (baas' peak RSS, CPU per console). Prints min/median/max over the runs and the ratios.
#
#   bench/console.sh            # 5 runs
#   RUNS=3 KEYSTROKES=300 bench/console.sh
#
# Needs ipmi_sim, ipmitool, python3; installs what is missing (and websockets into a venv).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/baas/target}"
RUNS=${RUNS:-5}
VENV=$HOME/.cache/baas/bench-venv

source "$ROOT/bench/lib.sh"
install_missing ipmi_sim=openipmi ipmitool=ipmitool python3=python3
release_baas
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import websockets' 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q 'websockets==15.0.1'
fi
export ROOT BAAS KEYSTROKES="${KEYSTROKES:-1000}"

results=$(mktemp)
many=$(mktemp)
trap 'rm -f "$results" "$many"' EXIT
for run in $(seq 1 "$RUNS"); do
  "$VENV/bin/python" "$ROOT/bench/console.py" one | tee -a "$results"
done
"$VENV/bin/python" "$ROOT/bench/console.py" many | tee -a "$many"

field() { "$VENV/bin/python" -c "import json,sys; [print(json.loads(l)['$1']) for l in open('$2')]"; }
echo
echo "console, $RUNS runs of $KEYSTROKES keystrokes and a 1 MiB burst (min median max):"
for key in baas_p50_ms ipmitool_p50_ms baas_p99_ms ipmitool_p99_ms baas_burst_kib_s ipmitool_burst_kib_s; do
  printf '  %-22s %s\n' "$key" "$(field "$key" "$results" | spread)"
done
printf '  %-22s %s\n' "bursts whole (baas)" "$(field baas_burst_whole "$results" | sort | uniq -c | tr '\n' ' ')"
printf '  %-22s %s\n' "bursts whole (ipmitool)" "$(field ipmitool_burst_whole "$results" | sort | uniq -c | tr '\n' ' ')"
"$VENV/bin/python" - "$results" <<'PY'
import json, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
for r in runs:
    r["p99_gap"] = r["baas_p99_ms"] - r["ipmitool_p99_ms"]
    r["burst_ratio"] = r["baas_burst_kib_s"] / r["ipmitool_burst_kib_s"]
def spread(key):
    v = sorted(r[key] for r in runs)
    m = v[len(v) // 2] if len(v) % 2 else (v[len(v) // 2 - 1] + v[len(v) // 2]) / 2
    return f"{v[0]:.3f} {m:.3f} {v[-1]:.3f}"
print(f"  p99 baas - ipmitool (ms, goal <= 5)  {spread('p99_gap')}")
print(f"  burst rate baas / ipmitool (goal >= 0.95)  {spread('burst_ratio')}")
PY
echo "20 consoles recording, 50 viewers on one: $(cat "$many")"
