#!/usr/bin/env bash
# DHCPv6 under load: perfdhcp -6 (SOLICITs from many clients, each a UEFI PXE client: vendor
# class PXEClient, architecture 7) against baas and against dnsmasq as the DHCPv6 server, same
# namespaces, same packets, same run. Two comparisons:
#   - baas authoritative (an IA_NA address from its lease book, held in the database, and the
#     boot file URL) against dnsmasq handing out addresses and the boot file URL;
#   - baas beside the site's server (boot information only, no address) against the same
#     dnsmasq — what baas adds to a network whose addresses come from elsewhere.
# Prints advertises per second, drops, average and p99 latency per rate, and the ratios.
#
#   bench/dhcp6.sh                       # 1000 to 8000 SOLICITs/s, 10 s each
#   RATES="2000 4000" SECONDS_PER_RATE=5 bench/dhcp6.sh
# Needs root (network namespaces).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/baas/target}"
RATES=${RATES:-1000 2000 4000 8000}
SECONDS_PER_RATE=${SECONDS_PER_RATE:-10}
# Enough simulated clients that none of them exceeds baas' per-client share (2/s after a burst).
CLIENTS=${CLIENTS:-1000000}
WORK=$(mktemp -d /tmp/baas-bench-dhcp6.XXXXXX)
source "$ROOT/bench/lib.sh"
install_missing perfdhcp=kea-admin dnsmasq=dnsmasq
release_baas
namespace_pair bdhcp6
for ns in "$NS_SERVER" "$NS_CLIENT"; do
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
done
ip -n "$NS_SERVER" addr add fd34::1/64 dev bds$$ nodad
# perfdhcp sends from the client side's link-local address; give it a moment to exist.
sleep 1

start_baas() {
  local mode=$1
  rm -rf "$WORK/data"
  ip netns exec "$NS_SERVER" env BAAS_HTTP_ADDR=127.0.0.1:3000 BAAS_DATA_DIR="$WORK/data" \
    BAAS_ADMIN_PASSWORD=bench-password-1 BAAS_TFTP_ADDR=off BAAS_DHCP_MODE=off BAAS_DHCP_INTERFACES=bds$$ \
    BAAS_DHCP6_MODE="$mode" BAAS_DHCP6_SUBNET=fd34::/64 BAAS_DHCP6_POOL=fd34::1:0-fd34::ff:ffff \
    BAAS_PUBLIC_URL='http://[fd34::1]:3000' RUST_LOG=warn "$BAAS" serve 2>"$WORK/baas.log" &
  SERVER_PID=$!
  sleep 2
}
start_baas_authoritative() { start_baas authoritative; }
start_baas_proxy() { start_baas proxy; }
start_dnsmasq() {
  ip netns exec "$NS_SERVER" dnsmasq --no-daemon --conf-file=/dev/null --port=0 \
    --interface=bds$$ --bind-interfaces --dhcp-range=fd34::1:0,fd34::ff:ffff,64,1h \
    --dhcp-option=option6:bootfile-url,tftp://[fd34::1]/ipxe.efi \
    --pid-file="$WORK/dnsmasq.pid" --dhcp-leasefile="$WORK/leases" 2>"$WORK/dnsmasq.log" &
  SERVER_PID=$!
  sleep 1
}

# A UEFI PXE client: vendor class (enterprise 343) PXEClient:Arch:00007:UNDI:003000, arch 7.
CLASS=PXEClient:Arch:00007:UNDI:003000
VENDOR=$(printf '%08x%04x' 343 "${#CLASS}")$(printf '%s' "$CLASS" | od -An -tx1 | tr -d ' \n')
# One run: prints "advertises/s drops% avg_ms p99_ms".
load() {
  local rate=$1 out="$WORK/perfdhcp.out"
  ip netns exec "$NS_CLIENT" perfdhcp -6 -l bdc$$ -r "$rate" -p "$SECONDS_PER_RATE" -R "$CLIENTS" -i \
    -o "16,$VENDOR" -o 61,0007 -x t >"$out" 2>&1 || true
  perfdhcp_summary "$out" "$SECONDS_PER_RATE"
}

declare -A RESULT
for server in dnsmasq baas_authoritative baas_proxy; do
  "start_$server"
  for rate in $RATES; do
    RESULT[$server,$rate]=$(load "$rate")
  done
  stop_server
done

printf '\nDHCPv6 under perfdhcp -6 (%s clients, %s s per rate), %s\n' "$CLIENTS" "$SECONDS_PER_RATE" "$(date -u +%F)"
for baas in baas_authoritative baas_proxy; do
  printf '\n%-8s | %-34s | %-34s | %s\n' "rate/s" "dnsmasq: adv/s drop% avg p99 ms" "${baas/_/ }: adv/s drop% avg p99 ms" "advertises ratio, p99 ratio (dnsmasq/baas)"
  for rate in $RATES; do
    read -r d_ops d_drop d_avg d_p99 <<<"${RESULT[dnsmasq,$rate]}"
    read -r b_ops b_drop b_avg b_p99 <<<"${RESULT[$baas,$rate]}"
    printf '%-8s | %8s %6s %6s %7s        | %8s %6s %6s %7s        | %s\n' \
      "$rate" "$d_ops" "$d_drop" "$d_avg" "$d_p99" "$b_ops" "$b_drop" "$b_avg" "$b_p99" \
      "$(ratios "${RESULT[$baas,$rate]}" "${RESULT[dnsmasq,$rate]}")"
  done
done
