#!/usr/bin/env bash
# Image downloads over TLS. baas speaks plain HTTP; a TLS deployment puts a terminating proxy in
# front. This runs nginx as that proxy (TLS 1.3, proxy_buffering off with 512 KiB reads, keep-alive upstream) in
# front of baas, beside the same nginx serving the same file over TLS itself, on loopback; RUNS
# turns each, 1 and CLIENTS clients; prints min/median/max and the ratio of the medians
# (nginx alone / nginx in front of baas: what a TLS user gets from baas, relative to the best
# a static TLS server does).
#
#   bench/tls.sh
#   RUNS=3 CLIENTS=16 bench/tls.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/baas/target}"
SIZE_GIB=${SIZE_GIB:-1}
RUNS=${RUNS:-5}
CLIENTS=${CLIENTS:-16}
WORK=${BENCH_DIR:-$HOME/.cache/baas/bench-tls}
STATIC_PORT=${STATIC_PORT:-18443}
PROXY_PORT=${PROXY_PORT:-18444}
BAAS_PORT=${BAAS_PORT:-13010}

source "$ROOT/bench/lib.sh"
install_missing nginx=nginx-light curl=curl openssl=openssl || install_missing nginx=nginx curl=curl openssl=openssl
release_baas

rm -rf "$WORK" && mkdir -p "$WORK/www" "$WORK/nginx" "$WORK/data"
cleanup() {
  [ -n "${NGINX_PID:-}" ] && kill "$NGINX_PID" 2>/dev/null || true
  [ -n "${BAAS_PID:-}" ] && kill "$BAAS_PID" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

head -c $(( SIZE_GIB * 1024 * 1024 * 1024 )) /dev/urandom > "$WORK/www/disk.img"
printf '\x55\xaa' | dd of="$WORK/www/disk.img" bs=1 seek=510 conv=notrunc status=none
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=127.0.0.1 \
  -keyout "$WORK/nginx/key.pem" -out "$WORK/nginx/cert.pem" 2>/dev/null

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
    ssl_certificate $WORK/nginx/cert.pem;
    ssl_certificate_key $WORK/nginx/key.pem;
    ssl_protocols TLSv1.3;
    sendfile on;
    upstream baas { server 127.0.0.1:$BAAS_PORT; keepalive 64; }
    server { listen 127.0.0.1:$STATIC_PORT ssl; root $WORK/www; location / { } }
    server {
        listen 127.0.0.1:$PROXY_PORT ssl;
        location / {
            proxy_pass http://baas;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host \$host;
            proxy_buffering off;
            proxy_buffer_size 512k;
            proxy_buffers 4 512k;
            proxy_busy_buffers_size 512k;
        }
    }
}
CONF
nginx -c "$WORK/nginx/nginx.conf" & NGINX_PID=$!
BAAS_HTTP_ADDR=127.0.0.1:$BAAS_PORT BAAS_DATA_DIR="$WORK/data" BAAS_ADMIN_PASSWORD=bench-password-1 \
  BAAS_TFTP_ADDR=off BAAS_DHCP_MODE=off RUST_LOG=warn "$BAAS" serve & BAAS_PID=$!
for _ in $(seq 1 100); do
  curl -sf -o /dev/null "http://127.0.0.1:$BAAS_PORT/healthz" && curl -skf -o /dev/null -r 0-0 "https://127.0.0.1:$STATIC_PORT/disk.img" && break
  sleep 0.1
done
JAR="$WORK/cookies"
curl -sf -c "$JAR" -o /dev/null -d 'username=admin&password=bench-password-1' "http://127.0.0.1:$BAAS_PORT/api/login"
IMAGE_ID=$(curl -sf -b "$JAR" -T "$WORK/www/disk.img" "http://127.0.0.1:$BAAS_PORT/api/v1/images/bench" | grep -o '"id":[0-9]*' | head -1 | cut -d: -f2)
STATIC_URL="https://127.0.0.1:$STATIC_PORT/disk.img"
PROXY_URL="https://127.0.0.1:$PROXY_PORT/images/$IMAGE_ID/content"
BYTES=$(( SIZE_GIB * 1024 * 1024 * 1024 ))

fetch() {
  local start pids=() clients=$1 url=$2
  start=$(date +%s.%N)
  for _ in $(seq 1 "$clients"); do
    curl -skf -b "$JAR" -o /dev/null -w '%{size_download}\n' "$url" >> "$WORK/sizes" & pids+=($!)
  done
  wait "${pids[@]}"
  calc "$(date +%s.%N) - $start"
}
fetch 1 "$STATIC_URL" >/dev/null; fetch 1 "$PROXY_URL" >/dev/null

printf '%-24s %-26s %-26s %7s\n' measure "nginx TLS s (min/med/max)" "nginx TLS → baas s" ratio
for clients in 1 $CLIENTS; do
  : > "$WORK/sizes"; : > "$WORK/ref"; : > "$WORK/ours"
  for _ in $(seq 1 "$RUNS"); do
    fetch "$clients" "$STATIC_URL" >> "$WORK/ref"; fetch "$clients" "$PROXY_URL" >> "$WORK/ours"
  done
  short=$(grep -vcx "$BYTES" "$WORK/sizes" || true)
  [ "$short" -eq 0 ] || { echo "FAILED: $short downloads were short" >&2; exit 1; }
  read -r rmin rmed rmax < <(spread < "$WORK/ref")
  read -r bmin bmed bmax < <(spread < "$WORK/ours")
  printf '%-24s %-26s %-26s %6.2f× (%s MB/s through baas)\n' "${SIZE_GIB} GiB, $clients client(s)" \
    "$rmin / $rmed / $rmax" "$bmin / $bmed / $bmax" "$(calc "$rmed / $bmed")" \
    "$(awk "BEGIN { printf \"%.0f\", $BYTES * $clients / $bmed / 1000000 }")"
done
