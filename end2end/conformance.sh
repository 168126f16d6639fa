#!/usr/bin/env bash
# The REST API against its own OpenAPI document: schemathesis (PyPI) generates requests for every
# operation from /api/v1/openapi.json and checks the answers (end2end/schemathesis.toml says
# which checks), once with an admin's token and once with a user's, against a live baas
# (the release build) with a small lab in it. Any failure fails the run.
#
#   BAAS_BIN=... SCHEMATHESIS=.../st end2end/conformance.sh      # ./dev test runs it
#   MAX_TIME=120 end2end/conformance.sh                           # seconds per run (default 60)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BAAS=${BAAS_BIN:?BAAS_BIN must name the baas binary}
ST=${SCHEMATHESIS:?SCHEMATHESIS must name schemathesis\' st}
MAX_TIME=${MAX_TIME:-60}
WORK=$(mktemp -d)
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE="http://127.0.0.1:$PORT"
cleanup() {
  [ -n "${BAAS_PID:-}" ] && kill "$BAAS_PID" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

BAAS_HTTP_ADDR=127.0.0.1:$PORT BAAS_DATA_DIR="$WORK/data" BAAS_ADMIN_PASSWORD=conformance-admin-1 \
  BAAS_TFTP_ADDR=off BAAS_DHCP_MODE=off RUST_LOG=error "$BAAS" serve & BAAS_PID=$!
for _ in $(seq 1 100); do curl -sf -o /dev/null "$BASE/healthz" && break; sleep 0.1; done

# Tokens the way a person gets one: log in, create it.
token_of() {  # user password
  curl -sf -c "$WORK/jar-$1" -o /dev/null -d "username=$1&password=$2" "$BASE/api/login"
  for i in 1 2 3; do  # a few first, so the run's own token is not the lowest id
    curl -sf -b "$WORK/jar-$1" -o /dev/null -H 'content-type: application/json' -d "{\"name\":\"spare $i\"}" "$BASE/api/v1/tokens"
  done
  curl -sf -b "$WORK/jar-$1" -H 'content-type: application/json' -d '{"name":"conformance"}' "$BASE/api/v1/tokens" \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])'
}
ADMIN=$(token_of admin conformance-admin-1)
api() {  # method path body
  curl -sf -X "$1" -H "authorization: Bearer $ADMIN" -H 'content-type: application/json' -d "$3" "$BASE$2"
}
# A small lab: a user, a group, machines (one with a grant and a reservation), an image, a job.
api POST /api/v1/users '{"username":"erin","display_name":"Erin","password":"conformance-user-1","is_admin":false}' >/dev/null
api POST /api/v1/groups '{"name":"team"}' >/dev/null
for i in 1 2 3; do
  api POST /api/v1/machines "{\"name\":\"node$i\",\"macs\":\"52:54:00:cf:00:0$i\",\"platform\":\"x86_64-bios\",\"bmc_kind\":\"none\",\"tags\":\"t$i\",\"state\":\"available\"}" >/dev/null
done
api POST /api/v1/machines/1/grants '{"subject_kind":"user","subject_name":"erin","level":"use"}' >/dev/null
USER=$(token_of erin conformance-user-1)
NOW=$(date +%s)
curl -sf -H "authorization: Bearer $USER" -H 'content-type: application/json' \
  -d "{\"machine_id\":1,\"start_at\":$NOW,\"end_at\":$(( NOW + 7200 ))}" "$BASE/api/v1/reservations" >/dev/null
head -c 1048576 /dev/urandom > "$WORK/disk.img"
printf '\x55\xaa' | dd of="$WORK/disk.img" bs=1 seek=510 conv=notrunc status=none
curl -sf -H "authorization: Bearer $USER" -T "$WORK/disk.img" "$BASE/api/v1/images/conformance" >/dev/null
curl -sf -H "authorization: Bearer $USER" -H 'content-type: application/json' \
  -d '{"machine_id":1,"kind":"inventory"}' "$BASE/api/v1/jobs" >/dev/null

status=0
for who in admin user; do
  token=$ADMIN; [ "$who" = user ] && token=$USER
  echo "schemathesis as $who ($MAX_TIME s)"
  (cd "$WORK" && "$ST" --config-file "$ROOT/end2end/schemathesis.toml" run "$BASE/api/v1/openapi.json" \
    -H "Authorization: Bearer $token" --max-time "$MAX_TIME" --request-timeout 10 \
    --generation-database none --no-color > "$WORK/$who.txt" 2>&1) || status=1
  sed -n '/= SUMMARY =/,$p' "$WORK/$who.txt"
  if [ "$status" -ne 0 ]; then
    sed -n '/= FAILURES =/,/= SUMMARY =/p' "$WORK/$who.txt" | head -150
    break
  fi
done
exit "$status"
