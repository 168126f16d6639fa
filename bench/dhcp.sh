#!/usr/bin/env bash
# ProxyDHCP under load: perfdhcp (relay mode, PXE DISCOVERs from many clients) against baas and
# against dnsmasq in proxy mode, same namespaces, same run. Prints offers per second, drops,
# average and p99 latency per rate, and the ratios baas/dnsmasq.
#
#   bench/dhcp.sh                       # 1000 to 32000 DISCOVERs/s, 10 s each
#   RATES="2000 20000" SECONDS_PER_RATE=5 bench/dhcp.sh
# Needs root (network namespaces).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/baas/target}"
RATES=${RATES:-1000 4000 8000 16000 32000}
SECONDS_PER_RATE=${SECONDS_PER_RATE:-10}
# Enough simulated clients that none of them exceeds baas' per-client share (2/s after a burst).
CLIENTS=${CLIENTS:-1000000}
WORK=$(mktemp -d /tmp/baas-bench-dhcp.XXXXXX)
source "$ROOT/bench/lib.sh"
install_missing perfdhcp=kea-admin dnsmasq=dnsmasq
release_baas
namespace_pair bdhcp
ip -n "$NS_SERVER" addr add 10.234.0.1/24 dev bds$$
ip -n "$NS_CLIENT" addr add 10.234.0.9/24 dev bdc$$

start_baas() {
  rm -rf "$WORK/data"
  ip netns exec "$NS_SERVER" env BAAS_HTTP_ADDR=127.0.0.1:3000 BAAS_DATA_DIR="$WORK/data" \
    BAAS_ADMIN_PASSWORD=bench-password-1 BAAS_TFTP_ADDR=off BAAS_DHCP_MODE=proxy BAAS_DHCP_INTERFACES=bds$$ \
    BAAS_PUBLIC_URL=http://10.234.0.1:3000 RUST_LOG=warn "$BAAS" serve 2>"$WORK/baas.log" &
  SERVER_PID=$!
  sleep 2
}
start_dnsmasq() {
  ip netns exec "$NS_SERVER" dnsmasq --no-daemon --conf-file=/dev/null --port=0 \
    --interface=bds$$ --bind-interfaces --dhcp-range=10.234.0.0,proxy,255.255.255.0 \
    --dhcp-userclass=set:ipxe,iPXE \
    '--pxe-service=tag:!ipxe,x86PC,"undionly",undionly' \
    '--pxe-service=tag:!ipxe,X86-64_EFI,"ipxe.efi",ipxe.efi' \
    --dhcp-boot=tag:ipxe,http://10.234.0.1:3000/boot.ipxe,pxesrv,10.234.0.1 \
    --pid-file="$WORK/dnsmasq.pid" --dhcp-leasefile="$WORK/leases" 2>"$WORK/dnsmasq.log" &
  SERVER_PID=$!
  sleep 1
}

# A BIOS PXE client: vendor class PXEClient:Arch:00000:UNDI:002001, architecture 0, UNDI 2.1.
VENDOR=$(printf 'PXEClient:Arch:00000:UNDI:002001' | od -An -tx1 | tr -d ' \n')
# One run: prints "offers/s drops% avg_ms p99_ms".
load() {
  local rate=$1 out="$WORK/perfdhcp.out"
  ip netns exec "$NS_CLIENT" perfdhcp -4 -l bdc$$ -r "$rate" -p "$SECONDS_PER_RATE" -R "$CLIENTS" -i \
    -o "60,$VENDOR" -o 93,0000 -o 94,010201 -x t 10.234.0.1 >"$out" 2>&1 || true
  perfdhcp_summary "$out" "$SECONDS_PER_RATE"
}

declare -A RESULT
for server in dnsmasq baas; do
  "start_$server"
  for rate in $RATES; do
    RESULT[$server,$rate]=$(load "$rate")
  done
  stop_server
done

printf '\nProxyDHCP under perfdhcp (relay mode, %s clients, %s s per rate), %s\n' "$CLIENTS" "$SECONDS_PER_RATE" "$(date -u +%F)"
printf '%-8s | %-34s | %-34s | %s\n' "rate/s" "dnsmasq: offers/s drop% avg p99 ms" "baas: offers/s drop% avg p99 ms" "offers ratio, p99 ratio (dnsmasq/baas)"
for rate in $RATES; do
  read -r d_ops d_drop d_avg d_p99 <<<"${RESULT[dnsmasq,$rate]}"
  read -r b_ops b_drop b_avg b_p99 <<<"${RESULT[baas,$rate]}"
  printf '%-8s | %8s %6s %6s %7s        | %8s %6s %6s %7s        | %s\n' \
    "$rate" "$d_ops" "$d_drop" "$d_avg" "$d_p99" "$b_ops" "$b_drop" "$b_avg" "$b_p99" \
    "$(ratios "${RESULT[baas,$rate]}" "${RESULT[dnsmasq,$rate]}")"
done
