#!/usr/bin/env bash
# TFTP: baas beside tftpd-hpa (blksize) and atftpd (windowsize, RFC 7440), same files, same run,
# loopback, on a quiet machine and on a busy one (a CPU hog per core beside both). Each transfer
# runs RUNS times, the two servers taking turns, and every file that arrives is compared with the
# original; prints min/median/max seconds, the ratio of the
# medians (reference time / baas time: above 1, baas is faster) and the range of per-run ratios.
#
#   bench/tftp.sh                    # 1 MiB and 50 MiB, 5 runs, quiet + busy
#   RUNS=3 LOADS=quiet bench/tftp.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/baas/target}"
RUNS=${RUNS:-5}
LOADS=${LOADS:-quiet busy}
# Under /tmp: atftpd drops to nobody before opening files, and cannot enter /root.
WORK=${BENCH_DIR:-/tmp/baas-bench-tftp}
BAAS_TFTP=${BAAS_TFTP_PORT:-16969}
HPA=${HPA_PORT:-16970}
ATFTPD=${ATFTPD_PORT:-16971}
HTTP=${BAAS_HTTP_PORT:-13001}

source "$ROOT/bench/lib.sh"
install_missing in.tftpd=tftpd-hpa atftp=atftp curl=curl
release_baas

rm -rf "$WORK" && mkdir -p "$WORK/root" "$WORK/data"
cleanup() {
  busy_stop
  for pid in ${PIDS:-}; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
# atftpd is extracted from its package, not installed: installing it replaces tftpd-hpa's in.tftpd.
(cd "$WORK" && apt-get download -qq atftpd >/dev/null 2>&1 && dpkg-deb -x atftpd_*.deb atftpd-root)
head -c $((1024 * 1024)) /dev/urandom > "$WORK/root/file1m"
head -c $((50 * 1024 * 1024)) /dev/urandom > "$WORK/root/file50m"
chmod -R a+rX "$WORK/root"

PIDS=""
BAAS_HTTP_ADDR=127.0.0.1:$HTTP BAAS_DATA_DIR="$WORK/data" BAAS_ADMIN_PASSWORD=bench-password-1 \
  BAAS_TFTP_ADDR=127.0.0.1:$BAAS_TFTP BAAS_TFTP_ROOT="$WORK/root" RUST_LOG=warn "$BAAS" serve & PIDS="$PIDS $!"
in.tftpd -L -a 127.0.0.1:$HPA -s -u nobody -B 65464 "$WORK/root" & PIDS="$PIDS $!"
"$WORK/atftpd-root/usr/sbin/atftpd" --daemon --no-fork --port $ATFTPD --bind-address 127.0.0.1 \
  --logfile /dev/null --user nobody --group nogroup "$WORK/root" & PIDS="$PIDS $!"
for _ in $(seq 1 100); do curl -sf -o /dev/null "tftp://127.0.0.1:$BAAS_TFTP/file1m" && break; sleep 0.1; done

# seconds FILE CLIENT ARGS...: one transfer's seconds. Fails loudly if the transfer fails or if
# what arrived is not FILE byte for byte (compared after the clock stops).
seconds() {
  local file=$1; shift
  rm -f "$WORK/got"
  local t0 took; t0=$(date +%s.%N)
  "$@" >/dev/null 2>&1 || { echo "FAILED: $*" >&2; exit 1; }
  took=$(calc "$(date +%s.%N) - $t0")
  cmp -s "$WORK/got" "$WORK/root/$file" || {
    echo "WRONG BYTES from $*: $(stat -c %s "$WORK/got" 2>/dev/null || echo no) bytes, not $file's" >&2
    exit 1
  }
  echo "$took"
}
curl_get() { curl -sf -o "$WORK/got" --tftp-blksize "$3" "tftp://127.0.0.1:$1/$2"; }
atftp_get() { atftp -g -r "$2" -l "$WORK/got" --option "blksize $3" --option "windowsize $4" 127.0.0.1 "$1"; }

# compare LABEL CLIENT REF_PORT ARGS...: RUNS turns of the reference and baas.
compare() {
  local label=$1 client=$2 ref_port=$3; shift 3
  : > "$WORK/ref"; : > "$WORK/ours"; : > "$WORK/ratios"
  for _ in $(seq 1 "$RUNS"); do
    local ref ours
    ref=$(seconds "$1" "$client" "$ref_port" "$@"); ours=$(seconds "$1" "$client" "$BAAS_TFTP" "$@")
    echo "$ref" >> "$WORK/ref"; echo "$ours" >> "$WORK/ours"; calc "$ref / $ours" >> "$WORK/ratios"
  done
  read -r rmin rmed rmax < <(spread < "$WORK/ref")
  read -r bmin bmed bmax < <(spread < "$WORK/ours")
  read -r qmin _ qmax < <(spread < "$WORK/ratios")
  printf '%-6s %-44s %-24s %-24s %6.2f× %s\n' "$load" "$label" "$rmin / $rmed / $rmax" \
    "$bmin / $bmed / $bmax" "$(calc "$rmed / $bmed")" "$(printf '%.2f–%.2f' "$qmin" "$qmax")"
}

printf '%-6s %-44s %-24s %-24s %7s %s\n' load transfer "reference s (min/med/max)" \
  "baas s (min/med/max)" ratio "run ratios"
for load in $LOADS; do
  [ "$load" = busy ] && busy_start
  for file in file1m file50m; do
    for blksize in 1468 8192; do
      compare "$file curl blksize $blksize (vs tftpd-hpa)" curl_get "$HPA" "$file" "$blksize"
    done
  done
  for window in 1 4 16; do
    compare "file50m atftp 1468 windowsize $window (vs atftpd)" atftp_get "$ATFTPD" file50m 1468 "$window"
  done
  busy_stop
done
echo "ratio = median reference time / median baas time (above 1: baas is faster); run ratios: each run's pair"
