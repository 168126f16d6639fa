#!/usr/bin/env bash
# TFTP: baas beside tftpd-hpa (blksize) and atftpd (windowsize, RFC 7440), same files, same run,
# loopback. Prints the median time of each client/server pair and the ratios.
#
#   bench/tftp.sh          # 1 MiB and 50 MiB, 3 runs each
#   RUNS=5 bench/tftp.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/baas/target}"
RUNS=${RUNS:-3}
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

calc() { awk "BEGIN { print $* }"; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
# Median seconds of RUNS runs of the command; fails loudly if a transfer fails.
timed() {
  for _ in $(seq 1 "$RUNS"); do
    local t0; t0=$(date +%s.%N)
    "$@" >/dev/null 2>&1 || { echo "FAILED: $*" >&2; exit 1; }
    calc "$(date +%s.%N) - $t0"
  done | median
}
curl_get() { curl -sf -o /dev/null --tftp-blksize "$3" "tftp://127.0.0.1:$1/$2"; }
atftp_get() { atftp -g -r "$2" -l /dev/null --option "blksize $3" --option "windowsize $4" 127.0.0.1 "$1"; }

printf '%-40s %12s %12s %8s\n' "transfer (median of $RUNS)" "reference" "baas" "ratio"
for file in file1m file50m; do
  for blksize in 1468 8192; do
    ref=$(timed curl_get "$HPA" "$file" "$blksize")
    ours=$(timed curl_get "$BAAS_TFTP" "$file" "$blksize")
    printf '%-40s %10.3f s %10.3f s %7.2f×\n' "$file curl blksize $blksize (vs tftpd-hpa)" "$ref" "$ours" "$(calc "$ref / $ours")"
  done
done
for window in 1 4 16; do
  ref=$(timed atftp_get "$ATFTPD" file50m 1468 "$window")
  ours=$(timed atftp_get "$BAAS_TFTP" file50m 1468 "$window")
  printf '%-40s %10.3f s %10.3f s %7.2f×\n' "file50m atftp 1468 windowsize $window (vs atftpd)" "$ref" "$ours" "$(calc "$ref / $ours")"
done
echo "ratio = reference time / baas time (above 1: baas is faster)"
