#!/usr/bin/env bash
# Image streaming and upload: baas beside nginx (download, sendfile on) and beside sha256sum + cp
# (upload), in one run, on loopback, on a quiet machine and on a busy one (a CPU hog per core
# beside both). Each measurement runs RUNS times, the two servers taking turns; prints
# min/median/max seconds, the ratio of the medians (reference time / baas time: above 1, baas is
# faster) and the range of the per-run ratios, and baas' peak RSS for each number of clients.
#
#   bench/images.sh                                   # 1 GiB, 1/16/64 clients, 5 runs, quiet + busy
#   RUNS=3 CLIENTS="1 16" LOADS=quiet bench/images.sh # quicker
#
# Needs: a release build of baas (built here if missing), nginx and curl (installed if missing).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/baas/target}"
SIZE_GIB=${SIZE_GIB:-1}
UPLOAD_GIB=${UPLOAD_GIB:-1}
RUNS=${RUNS:-5}
CLIENTS=${CLIENTS:-1 16 64}
LOADS=${LOADS:-quiet busy}
WORK=${BENCH_DIR:-$HOME/.cache/baas/bench}
NGINX_PORT=${NGINX_PORT:-18088}
BAAS_PORT=${BAAS_PORT:-13000}

source "$ROOT/bench/lib.sh"
# nginx-light where the release has it (smaller), nginx otherwise.
install_missing nginx=nginx-light curl=curl || install_missing nginx=nginx curl=curl
release_baas

rm -rf "$WORK" && mkdir -p "$WORK/www" "$WORK/nginx" "$WORK/data"
cleanup() {
  busy_stop
  [ -n "${NGINX_PID:-}" ] && kill "$NGINX_PID" 2>/dev/null || true
  [ -n "${BAAS_PID:-}" ] && kill "$BAAS_PID" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# A raw disk image of random bytes with an MBR signature (baas refuses content it cannot name).
make_disk() {
  head -c $(( $2 * 1024 * 1024 * 1024 )) /dev/urandom > "$1"
  printf '\x55\xaa' | dd of="$1" bs=1 seek=510 conv=notrunc status=none
}
echo "preparing a ${SIZE_GIB} GiB image and a ${UPLOAD_GIB} GiB upload file under $WORK"
make_disk "$WORK/www/disk.img" "$SIZE_GIB"
make_disk "$WORK/upload.img" "$UPLOAD_GIB"

# Started as root, nginx's workers would drop to nobody, who cannot read under root's home.
NGINX_USER=""; [ "$(id -u)" -eq 0 ] && NGINX_USER="user root;"
cat > "$WORK/nginx/nginx.conf" <<CONF
$NGINX_USER
daemon off;
worker_processes auto;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 1024; }
http {
    default_type application/octet-stream;
    access_log off;
    client_body_temp_path $WORK/nginx/body;
    proxy_temp_path $WORK/nginx/proxy;
    fastcgi_temp_path $WORK/nginx/fastcgi;
    uwsgi_temp_path $WORK/nginx/uwsgi;
    scgi_temp_path $WORK/nginx/scgi;
    sendfile on;
    tcp_nopush on;
    server { listen 127.0.0.1:$NGINX_PORT; root $WORK/www; location / { } }
}
CONF
nginx -c "$WORK/nginx/nginx.conf" & NGINX_PID=$!

BAAS_HTTP_ADDR=127.0.0.1:$BAAS_PORT BAAS_DATA_DIR="$WORK/data" BAAS_ADMIN_PASSWORD=bench-password-1 \
  BAAS_TFTP_ADDR=off BAAS_DHCP_MODE=off RUST_LOG=warn "$BAAS" serve & BAAS_PID=$!
for _ in $(seq 1 100); do
  curl -sf -o /dev/null "http://127.0.0.1:$BAAS_PORT/healthz" && curl -sf -o /dev/null "http://127.0.0.1:$NGINX_PORT/disk.img" -r 0-0 && break
  sleep 0.1
done

JAR="$WORK/cookies"
curl -sf -c "$JAR" -o /dev/null -d 'username=admin&password=bench-password-1' "http://127.0.0.1:$BAAS_PORT/api/login"
# The first "id" of the answer is the image's (its owner's comes later).
first_id() { grep -o '"id":[0-9]*' | head -1 | cut -d: -f2; }
IMAGE_ID=$(curl -sf -b "$JAR" -T "$WORK/www/disk.img" "http://127.0.0.1:$BAAS_PORT/api/v1/images/bench" | first_id)
BAAS_URL="http://127.0.0.1:$BAAS_PORT/images/$IMAGE_ID/content"
NGINX_URL="http://127.0.0.1:$NGINX_PORT/disk.img"
BYTES=$(( SIZE_GIB * 1024 * 1024 * 1024 ))

# Seconds for $1 clients fetching the whole file from $2 at once; fails loudly on a short read.
fetch() {
  local start pids=() clients=$1 url=$2
  start=$(date +%s.%N)
  for _ in $(seq 1 "$clients"); do
    curl -sf -b "$JAR" -o /dev/null -w '%{size_download}\n' "$url" >> "$WORK/sizes" & pids+=($!)
  done
  wait "${pids[@]}"
  calc "$(date +%s.%N) - $start"
}
# Peak RSS of baas since the last reset, in MiB (clear_refs 5 resets the high-water mark).
rss_reset() { echo 5 > "/proc/$BAAS_PID/clear_refs"; }
rss_peak() { awk '/VmHWM/ {printf "%d", $2 / 1024}' "/proc/$BAAS_PID/status"; }

fetch 1 "$NGINX_URL" >/dev/null; fetch 1 "$BAAS_URL" >/dev/null  # warm the page cache

printf '%-6s %-22s %-26s %-26s %7s %-13s %s\n' load measure "nginx s (min/med/max)" \
  "baas s (min/med/max)" ratio "run ratios" "baas RSS"
for load in $LOADS; do
  [ "$load" = busy ] && busy_start
  for clients in $CLIENTS; do
    : > "$WORK/sizes"; : > "$WORK/ref"; : > "$WORK/ours"; : > "$WORK/ratios"
    rss_reset
    for _ in $(seq 1 "$RUNS"); do
      ref=$(fetch "$clients" "$NGINX_URL"); ours=$(fetch "$clients" "$BAAS_URL")
      echo "$ref" >> "$WORK/ref"; echo "$ours" >> "$WORK/ours"; calc "$ref / $ours" >> "$WORK/ratios"
    done
    peak=$(rss_peak)
    short=$(grep -vcx "$BYTES" "$WORK/sizes" || true)
    [ "$short" -eq 0 ] || { echo "FAILED: $short downloads were short" >&2; exit 1; }
    read -r rmin rmed rmax < <(spread < "$WORK/ref")
    read -r bmin bmed bmax < <(spread < "$WORK/ours")
    read -r qmin _ qmax < <(spread < "$WORK/ratios")
    printf '%-6s %-22s %-26s %-26s %6.2f× %-13s %d MiB\n' "$load" \
      "${SIZE_GIB} GiB, $clients client(s)" "$rmin / $rmed / $rmax" "$bmin / $bmed / $bmax" \
      "$(calc "$rmed / $bmed")" "$(printf '%.2f–%.2f' "$qmin" "$qmax")" "$peak"
  done

  # Upload: sha256sum then cp (the reference), against baas' PUT (which hashes, stores, fsyncs).
  : > "$WORK/ref"; : > "$WORK/ours"; : > "$WORK/ratios"
  cat "$WORK/upload.img" > /dev/null
  for run in $(seq 1 "$RUNS"); do
    t0=$(date +%s.%N); sha256sum "$WORK/upload.img" > /dev/null; cp "$WORK/upload.img" "$WORK/copy.img"
    ref=$(calc "$(date +%s.%N) - $t0"); rm -f "$WORK/copy.img"
    ours=$(curl -sf -b "$JAR" -o "$WORK/put.json" -w '%{time_total}' -T "$WORK/upload.img" \
      "http://127.0.0.1:$BAAS_PORT/api/v1/images/upload-$load-$run")
    uploaded=$(first_id < "$WORK/put.json")
    curl -sf -b "$JAR" -o /dev/null -X DELETE "http://127.0.0.1:$BAAS_PORT/api/v1/images/$uploaded"
    echo "$ref" >> "$WORK/ref"; echo "$ours" >> "$WORK/ours"; calc "$ref / $ours" >> "$WORK/ratios"
  done
  read -r rmin rmed rmax < <(spread < "$WORK/ref")
  read -r bmin bmed bmax < <(spread < "$WORK/ours")
  read -r qmin _ qmax < <(spread < "$WORK/ratios")
  printf '%-6s %-22s %-26s %-26s %6.2f× %-13s\n' "$load" "${UPLOAD_GIB} GiB upload (sha+cp)" \
    "$rmin / $rmed / $rmax" "$bmin / $bmed / $bmax" "$(calc "$rmed / $bmed")" "$(printf '%.2f–%.2f' "$qmin" "$qmax")"
  busy_stop
done
echo "ratio = median reference time / median baas time (above 1: baas is faster); run ratios: each run's pair"
