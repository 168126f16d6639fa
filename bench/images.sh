#!/usr/bin/env bash
# Image streaming and upload: baas beside nginx (download) and beside sha256sum + cp (upload),
# in one run, on loopback. Prints each measurement and the ratios; peak RSS of baas throughout.
#
#   bench/images.sh            # 1 GiB download file, 4 GiB upload file
#   SIZE_GIB=1 UPLOAD_GIB=1 RUNS=1 bench/images.sh   # quicker
#
# Needs: a release build of baas (built here if missing), nginx and curl (installed if missing).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/baas/target}"
SIZE_GIB=${SIZE_GIB:-1}
UPLOAD_GIB=${UPLOAD_GIB:-4}
RUNS=${RUNS:-3}
CLIENTS=${CLIENTS:-16}
WORK=${BENCH_DIR:-$HOME/.cache/baas/bench}
NGINX_PORT=${NGINX_PORT:-18088}
BAAS_PORT=${BAAS_PORT:-13000}

source "$ROOT/bench/lib.sh"
# nginx-light where the release has it (smaller), nginx otherwise.
install_missing nginx=nginx-light curl=curl || install_missing nginx=nginx curl=curl
release_baas

rm -rf "$WORK" && mkdir -p "$WORK/www" "$WORK/nginx" "$WORK/data"
cleanup() {
  [ -n "${NGINX_PID:-}" ] && kill "$NGINX_PID" 2>/dev/null || true
  [ -n "${BAAS_PID:-}" ] && kill "$BAAS_PID" 2>/dev/null || true
  [ -n "${SAMPLER_PID:-}" ] && kill "$SAMPLER_PID" 2>/dev/null || true
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
worker_processes 2;
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
  RUST_LOG=warn "$BAAS" serve & BAAS_PID=$!
for _ in $(seq 1 100); do
  curl -sf -o /dev/null "http://127.0.0.1:$BAAS_PORT/healthz" && curl -sf -o /dev/null "http://127.0.0.1:$NGINX_PORT/disk.img" -r 0-0 && break
  sleep 0.1
done

# Peak resident memory of baas, sampled every 100 ms.
( peak=0; while kill -0 "$BAAS_PID" 2>/dev/null; do
    rss=$(awk '/VmRSS/ {print $2}' "/proc/$BAAS_PID/status" 2>/dev/null || echo 0)
    [ "${rss:-0}" -gt "$peak" ] && peak=$rss && echo "$peak" > "$WORK/peak-rss-kib"
    sleep 0.1
  done ) & SAMPLER_PID=$!

JAR="$WORK/cookies"
curl -sf -c "$JAR" -o /dev/null -d 'username=admin&password=bench-password-1' "http://127.0.0.1:$BAAS_PORT/api/login"
IMAGE_ID=$(curl -sf -b "$JAR" -T "$WORK/www/disk.img" "http://127.0.0.1:$BAAS_PORT/api/v1/images/bench" | sed -E 's/.*"id":([0-9]+).*/\1/')
BAAS_URL="http://127.0.0.1:$BAAS_PORT/images/$IMAGE_ID/content"
NGINX_URL="http://127.0.0.1:$NGINX_PORT/disk.img"
BYTES=$(( SIZE_GIB * 1024 * 1024 * 1024 ))

# Seconds for one client to fetch the whole file.
one() { curl -sf -b "$JAR" -o /dev/null -w '%{time_total}' "$1"; }
# Seconds for $CLIENTS clients fetching the whole file at once.
many() {
  local start pids=()
  start=$(date +%s.%N)
  for _ in $(seq 1 "$CLIENTS"); do curl -sf -b "$JAR" -o /dev/null "$1" & pids+=($!); done
  wait "${pids[@]}"
  calc "$(date +%s.%N) - $start"
}
calc() { awk "BEGIN { print $* }"; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
rate() { awk "BEGIN { printf \"%.0f\", $1 / $2 / 1000000 }"; }  # MB/s

declare -A result
for server in nginx baas; do
  url=$NGINX_URL; [ "$server" = baas ] && url=$BAAS_URL
  one "$url" >/dev/null  # warm the page cache and the connection path
  single=$(for _ in $(seq 1 "$RUNS"); do one "$url"; echo; done | median)
  multi=$(for _ in $(seq 1 "$RUNS"); do many "$url"; done | median)
  result[$server.single]=$single
  result[$server.multi]=$multi
  printf '%-6s 1 client: %6.3f s (%s MB/s)   %d clients: %6.3f s (%s MB/s aggregate)\n' "$server" "$single" \
    "$(rate "$BYTES" "$single")" "$CLIENTS" "$multi" "$(rate $(( BYTES * CLIENTS )) "$multi")"
done
printf 'download ratio baas/nginx (throughput): 1 client %.2f×, %d clients %.2f×\n' \
  "$(calc "${result[nginx.single]} / ${result[baas.single]}")" "$CLIENTS" \
  "$(calc "${result[nginx.multi]} / ${result[baas.multi]}")"

# Upload: sha256sum then cp (the issue's reference), and with the copy synced (baas fsyncs).
UPLOAD_BYTES=$(( UPLOAD_GIB * 1024 * 1024 * 1024 ))
cat "$WORK/upload.img" > /dev/null
t0=$(date +%s.%N); sha256sum "$WORK/upload.img" > /dev/null; cp "$WORK/upload.img" "$WORK/copy.img"; t1=$(date +%s.%N)
sync -d "$WORK/copy.img" 2>/dev/null || sync; t2=$(date +%s.%N)
rm -f "$WORK/copy.img"; sync
reference=$(calc "$t1 - $t0"); reference_synced=$(calc "$t2 - $t0")
upload=$(curl -sf -b "$JAR" -o /dev/null -w '%{time_total}' -T "$WORK/upload.img" \
  "http://127.0.0.1:$BAAS_PORT/api/v1/images/upload-bench")
printf 'upload %d GiB: sha256sum + cp %.2f s (%.2f s with the copy synced); baas PUT %.2f s (%s MB/s)\n' \
  "$UPLOAD_GIB" "$reference" "$reference_synced" "$upload" "$(rate "$UPLOAD_BYTES" "$upload")"
printf 'upload ratio (reference time / baas time): %.2f× (%.2f× against the synced copy)\n' \
  "$(calc "$reference / $upload")" "$(calc "$reference_synced / $upload")"
sleep 0.3
printf 'baas peak RSS: %d MiB\n' $(( $(cat "$WORK/peak-rss-kib") / 1024 ))
