#!/usr/bin/env bash
# The VM lab, the one place that makes and unmakes it: two network namespaces, a lab one with a
# bridge br0 (x.1/24 and fdNN::1/64), a tap device tap0 for the VM and a veth to a server one
# (eth0, x.2/24) where the caller runs baas; dnsmasq in the lab namespace as the site's
# address-only DHCP server with an IPv6 router advertisement (which spares iPXE a 15 s wait);
# OpenIPMI's ipmi_sim as the VM's BMC, whose chassis hook (bmc/testdata/ipmi_sim/qemu-chassis.sh)
# starts QEMU at power-on and stops it at power-off; and QEMU itself. Used by
# server/tests/qemu_pxe.rs, end2end/vm_deploy.test.mjs and bench/vm-deploy.sh. Needs root.
#
#   vmlab.sh up DIR --subnet 10.98.0 [--no-site-dhcp | --ipv6-only [--site-dhcpv6]]
#       Makes DIR (absolute or relative; no spaces), the namespaces (unique names), the links and,
#       unless --no-site-dhcp, dnsmasq (range x.100-x.150). --ipv6-only: the machines' network
#       has no IPv4 service at all — no dnsmasq; radvd is its router, advertising fdNN::/64 for
#       address autoconfiguration with the "other configuration" flag (DHCPv6 is the caller's
#       to serve: baas). The x.1/x.2 IPv4 addresses stay, for the BMC's management network only.
#       --site-dhcpv6: dnsmasq as the site's DHCPv6 server too (addresses fdNN::100-1ff, no boot
#       information, and not answering iPXE, whose Information-request is the boot server's).
#       Writes DIR/env, shell-sourceable
#       KEY=VALUE lines: VMLAB_DIR VMLAB_LAB_NS VMLAB_SRV_NS VMLAB_GATEWAY (x.1) VMLAB_SERVER_IP
#       (x.2) VMLAB_SERVER_IP6 (fdNN::2; the server side takes no router advertisements)
#       VMLAB_SUBNET (x.0/24) VMLAB_BMC (x.1:623) VMLAB_VM_DIR (DIR/vm) VMLAB_CONSOLE
#       (DIR/vm/console.log). A failed up undoes what it made.
#   vmlab.sh bmc DIR --mac MAC --disk FILE [--firmware bios|uefi|uefi-http|uefi-ipv6|arm64-uefi[-http]] [--port 623] [--nic MODEL]
#                    [--memory MIB]
#       ipmi_sim in the lab namespace on x.1:PORT (VMLAB_BMC follows PORT), user admin/password.
#       Power on starts the VM (the options given here; boot order n after "boot pxe", else cn),
#       power off stops it. Its events go to DIR/vm/events.log. Serial-over-LAN serves the VM's
#       serial port (QEMU listens on 127.0.0.1:9003 in the lab namespace, ipmi_sim connects;
#       the console is still copied to VMLAB_CONSOLE).
#   vmlab.sh vm DIR [--mac MAC] [--disk FILE] [--firmware bios|uefi|uefi-http|uefi-ipv6|arm64-uefi[-http]] [--boot ORDER] [--nic MODEL]
#                   [--memory MIB] [--console FILE] [--serial-port PORT] [--pid-file FILE]
#                   [--foreground] [--extra "QEMU ARGS"] [-- QEMU ARGS...]
#       QEMU in the lab namespace: -accel tcg -m MIB (512) -nodefaults -nographic -monitor none,
#       serial to --console (VMLAB_CONSOLE) — with --serial-port, a TCP server on 127.0.0.1:PORT
#       that logs to --console too (for a BMC's Serial-over-LAN) —, a raw virtio --disk, -boot order=ORDER when given,
#       OVMF (pflash, a copy of the variables in DIR/vm) for --firmware uefi — the boot ORDER then
#       given as bootindex of the disk (c) and the NIC (n), which OVMF follows —, the same with
#       OVMF's PXE switched off for --firmware uefi-http (its network boot is UEFI HTTP boot),
#       only its IPv4 PXE switched off for --firmware uefi-ipv6 (EDK2's own PXE over IPv6: the
#       NIC without QEMU's iPXE ROM),
#       qemu-system-aarch64 -M virt -cpu cortex-a57 with AAVMF for --firmware arm64-uefi (and
#       arm64-uefi-http, its PXE switched off the same way), and unless
#       --nic none (then --mac is not needed) tap0 with "-device MODEL,netdev=n0,mac=MAC" (MODEL
#       virtio-net-pci by default; it may carry properties: "virtio-net-pci,romfile=").
#       --extra is split on blanks; arguments after -- go to QEMU as they are. In the background
#       by default; --foreground execs QEMU, so the caller's child is QEMU itself. Its pid goes to
#       --pid-file (DIR/vm/qemu.pid) and DIR/pids, its output beside it (DIR/vm/qemu.out).
#   vmlab.sh qemu-args DIR [vm options]   prints the QEMU command line vm would run, one per line
#   vmlab.sh env DIR                      prints DIR/env
#   vmlab.sh down DIR
#       Ends QEMU, every pid in DIR/pids and whatever else runs in the lab's namespaces (TERM,
#       KILL after about 1 s), deletes the namespaces. Idempotent; safe on a half-made lab. Keeps
#       DIR (the caller owns it).
#
# Every process it starts has its pid appended to DIR/pids. A failed step exits non-zero with a
# message naming it.
set -euo pipefail

VMLAB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")
ROOT=$(cd "$(dirname "$VMLAB")/.." && pwd)
IPMI_FILES=$ROOT/bmc/testdata/ipmi_sim
# The VM's serial port for Serial-over-LAN, on loopback in the lab's own namespace.
SOL_PORT=9003
OVMF_CODE=${VMLAB_OVMF_CODE:-/usr/share/OVMF/OVMF_CODE_4M.fd}
OVMF_VARS=${VMLAB_OVMF_VARS:-/usr/share/OVMF/OVMF_VARS_4M.fd}
AAVMF_CODE=${VMLAB_AAVMF_CODE:-/usr/share/AAVMF/AAVMF_CODE.fd}
AAVMF_VARS=${VMLAB_AAVMF_VARS:-/usr/share/AAVMF/AAVMF_VARS.fd}

ON_FAILURE=
die() {
  echo "vmlab: $*" >&2
  if [ -n "$ON_FAILURE" ]; then
    local undo=$ON_FAILURE
    ON_FAILURE=
    $undo >/dev/null 2>&1 || true
  fi
  exit 1
}
usage() { die "usage: $(basename "$0") up|bmc|vm|qemu-args|env|down DIR [options] (see the comment at the top of $VMLAB)"; }

# Runs a command; when it fails, exits naming the step (and saying what the command said).
step() {
  local what=$1 hint=$2 out
  shift 2
  if ! out=$("$@" 2>&1); then
    die "$what failed${hint:+ ($hint)}${out:+: $out}"
  fi
}
need() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is not installed (./dev test installs it)"
  done
}

# DIR as an absolute path; it must exist unless $2 is "make".
lab_dir() {
  local dir=$1
  [ -n "$dir" ] || usage
  case $dir in
    *[!A-Za-z0-9._/+:@-]*) die "the lab directory '$dir' holds spaces or shell metacharacters" ;;
  esac
  if [ "${2:-}" = make ]; then
    mkdir -p "$dir" || die "making the lab directory $dir failed"
  fi
  [ -d "$dir" ] || die "no lab directory $dir"
  (cd "$dir" && pwd)
}

# Loads DIR/env (the lab must be up).
load_env() {
  DIR=$(lab_dir "$1")
  [ -f "$DIR/env" ] || die "no lab in $DIR (run vmlab.sh up first)"
  # shellcheck disable=SC1091
  . "$DIR/env"
  [ -e "/run/netns/$VMLAB_LAB_NS" ] || die "the lab namespace $VMLAB_LAB_NS of $DIR is gone"
}

record_pid() { echo "$1" >> "$DIR/pids"; }

# Whether process $1 lives (a zombie does not).
alive() {
  local state
  state=$(sed -n 's/^.*) \(.\).*$/\1/p' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

# Waits up to $1 tenths of a second until the UDP port $2 is bound in the lab namespace, while
# process $3 lives.
wait_for_udp() {
  local tenths=$1 port=$2 pid=$3
  for _ in $(seq 1 "$tenths"); do
    alive "$pid" || return 1
    ip netns exec "$VMLAB_LAB_NS" ss -Hlun "sport = :$port" 2>/dev/null | grep -q . && return 0
    sleep 0.1
  done
  return 1
}

cmd_up() {
  local dir=${1:-} subnet='' site_dhcp=1 ipv6_only=0 site_dhcpv6=0
  [ $# -gt 0 ] && shift
  while [ $# -gt 0 ]; do
    case $1 in
      --subnet) subnet=${2:-}; shift 2 || usage ;;
      --no-site-dhcp) site_dhcp=0; shift ;;
      --ipv6-only) site_dhcp=0 ipv6_only=1; shift ;;
      --site-dhcpv6) site_dhcpv6=1; shift ;;
      *) die "up: unknown option $1" ;;
    esac
  done
  [ -n "$subnet" ] || die "up: --subnet A.B.C is required"
  subnet=${subnet%.0/24}
  local a b c octet
  IFS=. read -r a b c <<< "$subnet"
  for octet in "$a" "$b" "$c"; do
    case $octet in ''|*[!0-9]*) die "up: --subnet must be three octets like 10.98.0, not '$subnet'" ;; esac
    [ "$octet" -le 255 ] || die "up: --subnet must be three octets like 10.98.0, not '$subnet'"
  done
  [ "$(id -u)" -eq 0 ] || die "up needs root (network namespaces and tap devices)"
  need ip ss
  [ "$site_dhcp" -eq 0 ] || need dnsmasq
  [ "$ipv6_only" -eq 0 ] || need radvd
  [ "$site_dhcpv6" -eq 0 ] || [ "$ipv6_only" -eq 1 ] || die "up: --site-dhcpv6 goes with --ipv6-only"
  [ "$site_dhcpv6" -eq 0 ] || need dnsmasq
  DIR=$(lab_dir "$dir" make)
  if [ -f "$DIR/namespaces" ]; then
    local ns
    while read -r _ ns; do
      [ -e "/run/netns/$ns" ] && die "$DIR already holds a lab ($ns); run vmlab.sh down $DIR first"
    done < "$DIR/namespaces"
  fi
  rm -f "$DIR/env" "$DIR/pids"
  mkdir -p "$DIR/vm" || die "making $DIR/vm failed"

  local id lab srv
  for _ in 1 2 3 4 5; do
    id=$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
    lab=vml-$id-lab srv=vml-$id-srv
    [ -e "/run/netns/$lab" ] || [ -e "/run/netns/$srv" ] || break
  done
  # Recorded before they exist: a failed up, or down, finds them.
  printf 'lab %s\nsrv %s\n' "$lab" "$srv" > "$DIR/namespaces"
  VMLAB_LAB_NS=$lab
  ON_FAILURE="cmd_down $DIR"

  local x=$a.$b.$c v6
  # fdNN::1/64, NN the second octet as today's labs have it (fd99:: for 10.99.0.0/24).
  if [ "$b" -lt 100 ]; then v6=$(printf 'fd%02d::1/64' "$b"); else v6=$(printf 'fd%02x::1/64' "$b"); fi
  local root_hint='needs root and iproute2'
  step "adding the network namespace $lab" "$root_hint" ip netns add "$lab"
  step "adding the network namespace $srv" "$root_hint" ip netns add "$srv"
  step "bringing up loopback in the namespaces" "$root_hint" \
    sh -c "ip -n '$lab' link set lo up && ip -n '$srv' link set lo up"
  step "creating the bridge br0" "$root_hint" \
    sh -c "ip -n '$lab' link add br0 type bridge && ip -n '$lab' link set br0 type bridge forward_delay 0 stp_state 0"
  step "creating the tap device" "$root_hint" \
    sh -c "ip -n '$lab' tuntap add dev tap0 mode tap && ip -n '$lab' link set tap0 master br0"
  step "creating the veth pair to the server namespace" "$root_hint" \
    sh -c "ip -n '$lab' link add vsrv type veth peer name eth0 netns '$srv' && ip -n '$lab' link set vsrv master br0"
  step "addressing the bridge ($x.1/24, $v6)" "$root_hint" \
    sh -c "ip -n '$lab' addr add '$x.1/24' dev br0 && ip -n '$lab' addr add '$v6' dev br0"
  # The server side's addresses are fixed: no router advertisement or duplicate address
  # detection changes them later. Chromium runs in this namespace, and every address change
  # it sees aborts its loads in flight (net::ERR_NETWORK_CHANGED), a page's wasm among them.
  step "fixing the server side's IPv6 configuration" "$root_hint" \
    ip netns exec "$srv" sysctl -qw net.ipv6.conf.eth0.accept_ra=0 net.ipv6.conf.eth0.autoconf=0 \
      net.ipv6.conf.eth0.accept_dad=0 net.ipv6.conf.default.accept_ra=0 net.ipv6.conf.default.accept_dad=0
  step "addressing the server side ($x.2/24, ${v6%::1/64}::2/64)" "$root_hint" \
    sh -c "ip -n '$srv' addr add '$x.2/24' dev eth0 && ip -n '$srv' addr add '${v6%::1/64}::2/64' dev eth0 nodad"
  step "bringing the links up" "$root_hint" \
    sh -c "ip -n '$lab' link set tap0 up && ip -n '$lab' link set vsrv up && ip -n '$lab' link set br0 up && ip -n '$srv' link set eth0 up"

  if [ "$site_dhcp" -eq 1 ]; then
    ip netns exec "$lab" dnsmasq --no-daemon --conf-file=/dev/null --port=0 --interface=br0 --bind-interfaces \
      "--dhcp-range=$x.100,$x.150,255.255.255.0,1h" --enable-ra '--dhcp-range=::,constructor:br0,ra-only,64,1h' \
      "--dhcp-leasefile=$DIR/leases" "--pid-file=$DIR/dnsmasq.pid" \
      < /dev/null > "$DIR/dnsmasq.log" 2>&1 &
    local dnsmasq=$!
    record_pid "$dnsmasq"
    wait_for_udp 50 67 "$dnsmasq" \
      || die "starting dnsmasq (the site's DHCP) failed: $(tail -3 "$DIR/dnsmasq.log" 2>/dev/null)"
  fi

  if [ "$ipv6_only" -eq 1 ]; then
    # The router a lab's IPv6 network has: advertisements every few seconds and on request, a
    # prefix for autoconfiguration, "ask DHCPv6 for the rest" (iPXE then sends an
    # Information-request for its boot file), and no default route (lifetime 0).
    cat > "$DIR/radvd.conf" <<EOF
interface br0 {
  AdvSendAdvert on;
  MinRtrAdvInterval 3;
  MaxRtrAdvInterval 4;
  AdvManagedFlag off;
  AdvOtherConfigFlag on;
  AdvDefaultLifetime 0;
  prefix ${v6%::1/64}::/64 { AdvOnLink on; AdvAutonomous on; };
};
EOF
    ip netns exec "$lab" radvd --nodaemon --config "$DIR/radvd.conf" --pidfile "$DIR/radvd.pid" \
      --logmethod stderr < /dev/null > "$DIR/radvd.log" 2>&1 &
    local radvd=$!
    record_pid "$radvd"
    sleep 0.5
    alive "$radvd" || die "starting radvd (the IPv6 router) failed: $(tail -3 "$DIR/radvd.log" 2>/dev/null)"
  fi
  if [ "$site_dhcpv6" -eq 1 ]; then
    ip netns exec "$lab" dnsmasq --no-daemon --conf-file=/dev/null --port=0 --interface=br0 --bind-interfaces \
      "--dhcp-range=${v6%::1/64}::100,${v6%::1/64}::1ff,64,1h" --dhcp-userclass=set:ipxe,iPXE --dhcp-ignore=tag:ipxe \
      "--dhcp-leasefile=$DIR/leases6" "--pid-file=$DIR/dnsmasq.pid" \
      < /dev/null > "$DIR/dnsmasq.log" 2>&1 &
    local dnsmasq6=$!
    record_pid "$dnsmasq6"
    wait_for_udp 50 547 "$dnsmasq6" \
      || die "starting dnsmasq (the site's DHCPv6) failed: $(tail -3 "$DIR/dnsmasq.log" 2>/dev/null)"
  fi

  cat > "$DIR/env" <<EOF
VMLAB_DIR=$DIR
VMLAB_LAB_NS=$lab
VMLAB_SRV_NS=$srv
VMLAB_GATEWAY=$x.1
VMLAB_SERVER_IP=$x.2
VMLAB_SERVER_IP6=${v6%::1/64}::2
VMLAB_PREFIX6=${v6%::1/64}::/64
VMLAB_SUBNET=$x.0/24
VMLAB_BMC=$x.1:623
VMLAB_VM_DIR=$DIR/vm
VMLAB_CONSOLE=$DIR/vm/console.log
EOF
  ON_FAILURE=
}

# Parses vm options into the globals below, then builds QEMU's command line in QEMU_CMD.
parse_vm_options() {
  MAC='' DISK='' FIRMWARE=bios BOOT='' NIC=virtio-net-pci MEMORY=512 CONSOLE=$VMLAB_CONSOLE
  SERIAL_PORT='' PID_FILE=$VMLAB_VM_DIR/qemu.pid FOREGROUND=0 EXTRA=() PASS=()
  while [ $# -gt 0 ]; do
    case $1 in
      --mac) MAC=${2:-}; shift 2 || usage ;;
      --disk) DISK=${2:-}; shift 2 || usage ;;
      --firmware) FIRMWARE=${2:-}; shift 2 || usage ;;
      --boot) BOOT=${2:-}; shift 2 || usage ;;
      --nic) NIC=${2:-}; shift 2 || usage ;;
      --memory) MEMORY=${2:-}; shift 2 || usage ;;
      --console) CONSOLE=${2:-}; shift 2 || usage ;;
      --serial-port) SERIAL_PORT=${2:-}; shift 2 || usage ;;
      --pid-file) PID_FILE=${2:-}; shift 2 || usage ;;
      --foreground) FOREGROUND=1; shift ;;
      --extra)
        local words
        read -r -a words <<< "${2:-}"
        EXTRA+=("${words[@]}")
        shift 2 || usage ;;
      --) shift; PASS=("$@"); break ;;
      *) die "vm: unknown option $1" ;;
    esac
  done
  case $FIRMWARE in bios|uefi|uefi-http|uefi-ipv6|arm64-uefi|arm64-uefi-http) ;; *) die "vm: --firmware is bios, uefi, uefi-http, uefi-ipv6, arm64-uefi or arm64-uefi-http, not '$FIRMWARE'" ;; esac
  case $BOOT in ''|*[!a-p]*) [ -z "$BOOT" ] || die "vm: --boot is an order like n or cn, not '$BOOT'" ;; esac
  case $MEMORY in ''|*[!0-9]*) die "vm: --memory is MiB, not '$MEMORY'" ;; esac
  case $SERIAL_PORT in *[!0-9]*) die "vm: --serial-port is a number, not '$SERIAL_PORT'" ;; esac
  [ "$NIC" = none ] || [ -n "$MAC" ] || die "vm: --mac is required (or --nic none)"
  [ -z "$DISK" ] || [ -f "$DISK" ] || die "vm: no disk image $DISK"

  # arm64: QEMU's virt board with a Cortex-A57 (cheaper to emulate than "max") and AAVMF.
  FIRMWARE_CODE=$OVMF_CODE FIRMWARE_VARS=$OVMF_VARS QEMU=qemu-system-x86_64 MACHINE=()
  if [ "${FIRMWARE#arm64-}" != "$FIRMWARE" ]; then
    FIRMWARE_CODE=$AAVMF_CODE FIRMWARE_VARS=$AAVMF_VARS QEMU=qemu-system-aarch64 MACHINE=(-M virt -cpu cortex-a57)
    # AAVMF drives virtio-net itself; QEMU's option ROMs are x86 iPXE.
    [ "$NIC" != virtio-net-pci ] || NIC=virtio-net-pci,romfile=
  fi
  # EDK2's PXE over IPv6, not QEMU's iPXE ROM.
  if [ "$FIRMWARE" = uefi-ipv6 ] && [ "$NIC" = virtio-net-pci ]; then NIC=virtio-net-pci,romfile=; fi
  QEMU_CMD=("$QEMU" "${MACHINE[@]}" -accel tcg -m "$MEMORY" -nodefaults -nographic -monitor none)
  if [ -n "$SERIAL_PORT" ]; then
    QEMU_CMD+=(-chardev "socket,id=serial0,host=127.0.0.1,port=$SERIAL_PORT,server=on,wait=off,logfile=$CONSOLE"
      -serial chardev:serial0)
  else
    QEMU_CMD+=(-serial "file:$CONSOLE")
  fi
  local disk_index='' nic_index=''
  if [ "$FIRMWARE" != bios ]; then
    QEMU_CMD+=(-drive "if=pflash,format=raw,unit=0,readonly=on,file=$FIRMWARE_CODE"
      -drive "if=pflash,format=raw,unit=1,file=$VMLAB_VM_DIR/$(basename "$FIRMWARE_VARS")")
    # OVMF ignores -boot order; it follows the devices' bootindex. As on a machine whose BMC
    # set a one-time network boot, the disk stays in the order after the network: a boot
    # program that exits (iPXE's "boot from local disk" on UEFI) falls through to it.
    case $BOOT in
      *c*n*) disk_index=,bootindex=1 nic_index=,bootindex=2 ;;
      *n*) nic_index=,bootindex=1 disk_index=,bootindex=2 ;;
      *c*) disk_index=,bootindex=1 ;;
    esac
  fi
  if [ "${FIRMWARE%-http}" != "$FIRMWARE" ]; then
    QEMU_CMD+=(-fw_cfg name=opt/org.tianocore/IPv4PXESupport,string=n
      -fw_cfg name=opt/org.tianocore/IPv6PXESupport,string=n)
  fi
  if [ "$FIRMWARE" = uefi-ipv6 ]; then
    QEMU_CMD+=(-fw_cfg name=opt/org.tianocore/IPv4PXESupport,string=n)
  fi
  [ -z "$DISK" ] || QEMU_CMD+=(-drive "file=$DISK,format=raw,if=none,id=disk0" -device "virtio-blk-pci,drive=disk0$disk_index")
  [ -z "$BOOT" ] || [ "$FIRMWARE" != bios ] || QEMU_CMD+=(-boot "order=$BOOT")
  if [ "$NIC" != none ]; then
    QEMU_CMD+=(-netdev "tap,id=n0,ifname=tap0,script=no,downscript=no" -device "$NIC,netdev=n0,mac=$MAC$nic_index")
  fi
  QEMU_CMD+=("${EXTRA[@]}" "${PASS[@]}")
}

cmd_qemu_args() {
  load_env "${1:-}"
  shift
  parse_vm_options "$@"
  printf '%s\n' "${QEMU_CMD[@]}"
}

cmd_vm() {
  load_env "${1:-}"
  shift
  parse_vm_options "$@"
  need "$QEMU"
  if [ -f "$PID_FILE" ] && alive "$(cat "$PID_FILE")"; then
    die "vm: a VM already runs (pid $(cat "$PID_FILE") in $PID_FILE)"
  fi
  if [ "$FIRMWARE" != bios ]; then
    { [ -f "$FIRMWARE_CODE" ] && [ -f "$FIRMWARE_VARS" ]; } \
      || die "vm: no UEFI firmware ($FIRMWARE_CODE, $FIRMWARE_VARS; Debian's ovmf or qemu-efi-aarch64)"
    # The VM's NVRAM lives as long as the lab, across power cycles.
    local vars
    vars=$VMLAB_VM_DIR/$(basename "$FIRMWARE_VARS")
    [ -f "$vars" ] || step "copying the UEFI variables" "" cp "$FIRMWARE_VARS" "$vars"
  fi
  local out=${PID_FILE%.pid}.out
  if [ "$FOREGROUND" -eq 1 ]; then
    echo $$ > "$PID_FILE"
    record_pid $$
    exec ip netns exec "$VMLAB_LAB_NS" "${QEMU_CMD[@]}" < /dev/null > "$out" 2>&1
  fi
  ip netns exec "$VMLAB_LAB_NS" "${QEMU_CMD[@]}" < /dev/null > "$out" 2>&1 &
  local pid=$!
  echo "$pid" > "$PID_FILE"
  record_pid "$pid"
  # A bad argument ends QEMU at once.
  for _ in 1 2 3; do
    alive "$pid" || die "starting QEMU failed: $(tail -3 "$out")"
    sleep 0.1
  done
}

cmd_bmc() {
  load_env "${1:-}"
  shift
  local port=623 options=() mac='' disk=''
  while [ $# -gt 0 ]; do
    case $1 in
      --port) port=${2:-}; shift 2 || usage ;;
      --mac) mac=${2:-}; options+=("$1" "$mac"); shift 2 || usage ;;
      --disk) disk=${2:-}; options+=("$1" "$disk"); shift 2 || usage ;;
      --firmware|--nic|--memory) options+=("$1" "${2:-}"); shift 2 || usage ;;
      *) die "bmc: unknown option $1" ;;
    esac
  done
  { [ -n "$mac" ] && [ -n "$disk" ]; } || die "bmc: --mac and --disk are required"
  case $port in ''|*[!0-9]*) die "bmc: --port is a number, not '$port'" ;; esac
  parse_vm_options "${options[@]}"  # checks them now rather than at power-on
  need ipmi_sim "$QEMU"
  local vm=$VMLAB_VM_DIR pid
  if [ -f "$vm/ipmi_sim.pid" ] && alive "$(cat "$vm/ipmi_sim.pid")"; then
    die "bmc: ipmi_sim already runs (pid $(cat "$vm/ipmi_sim.pid"))"
  fi
  # What the chassis hook starts the VM with: one option per line. The serial port is
  # ipmi_sim's SOL.
  options+=(--serial-port "$SOL_PORT")
  printf '%s\n' "${options[@]}" > "$vm/bmc.options"
  mkdir -p "$vm/simstate"
  step "writing ipmi_sim's configuration" "" sh -c \
    "sed -e 's/127.0.0.1 @PORT@/$VMLAB_GATEWAY $port/' -e 's#@HOOK@#$IPMI_FILES/qemu-chassis.sh#' -e 's#@SOL@#  sol \"tcp:127.0.0.1:$SOL_PORT\" 115200#' \
       '$IPMI_FILES/lan.conf.in' > '$vm/lan.conf' && cp '$IPMI_FILES/bmc.emu' '$vm/bmc.emu'"
  (cd "$vm" && VMLAB="$VMLAB" VMLAB_DIR="$DIR" \
    exec ip netns exec "$VMLAB_LAB_NS" ipmi_sim -c lan.conf -f bmc.emu -s simstate -n \
    < /dev/null > "$vm/ipmi_sim.log" 2>&1) &
  pid=$!
  echo "$pid" > "$vm/ipmi_sim.pid"
  record_pid "$pid"
  wait_for_udp 100 "$port" "$pid" \
    || die "starting ipmi_sim (the BMC on $VMLAB_GATEWAY:$port) failed: $(tail -3 "$vm/ipmi_sim.log" 2>/dev/null)"
  sed -i "s/^VMLAB_BMC=.*/VMLAB_BMC=$VMLAB_GATEWAY:$port/" "$DIR/env"
}

cmd_env() {
  DIR=$(lab_dir "${1:-}")
  [ -f "$DIR/env" ] || die "no lab in $DIR (run vmlab.sh up first)"
  cat "$DIR/env"
}

# Sends signal $1 to the processes given; true while any of them lives.
signal_all() {
  local signal=$1 pid any=1
  shift
  for pid in "$@"; do
    if alive "$pid"; then
      kill "-$signal" "$pid" 2>/dev/null || true
      any=0
    fi
  done
  return $any
}
any_alive() {
  local pid
  for pid in "$@"; do alive "$pid" && return 0; done
  return 1
}
# Ends the processes given: TERM, then KILL after about 1 s.
end_all() {
  [ $# -gt 0 ] || return 0
  signal_all TERM "$@" || return 0
  for _ in $(seq 1 10); do any_alive "$@" || return 0; sleep 0.1; done
  signal_all KILL "$@" || return 0
  for _ in $(seq 1 20); do any_alive "$@" || return 0; sleep 0.1; done
}

cmd_down() {
  local dir=${1:-} namespaces=() ns name pid mine=() rest=()
  [ -n "$dir" ] || usage
  [ -d "$dir" ] || return 0
  DIR=$(cd "$dir" && pwd)
  [ -f "$DIR/namespaces" ] || return 0
  while read -r _ ns; do
    [ -e "/run/netns/$ns" ] && namespaces+=("$ns")
  done < "$DIR/namespaces"
  [ ${#namespaces[@]} -gt 0 ] || return 0
  # Recorded pids, QEMU first, each only while it still lives in one of the lab's namespaces
  # (a pid of an ended process may belong to another one by now).
  # shellcheck disable=SC2013
  for pid in $(cat "$DIR/vm/qemu.pid" "$DIR/pids" 2>/dev/null); do
    case $pid in ''|*[!0-9]*) continue ;; esac
    ns=$(ip netns identify "$pid" 2>/dev/null) || continue
    for name in "${namespaces[@]}"; do
      [ "$ns" = "$name" ] && mine+=("$pid")
    done
  done
  end_all "${mine[@]}"
  # Then whatever else still runs in them (a VM a BMC restarted, the caller's leftovers).
  for ns in "${namespaces[@]}"; do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do
      [ "$pid" = $$ ] || rest+=("$pid")
    done
  done
  end_all "${rest[@]}"
  for ns in "${namespaces[@]}"; do
    ip netns del "$ns" 2>/dev/null || [ ! -e "/run/netns/$ns" ] \
      || die "deleting the network namespace $ns failed"
  done
}

command=${1:-}
[ $# -gt 0 ] && shift
case $command in
  up) cmd_up "$@" ;;
  bmc) cmd_bmc "$@" ;;
  vm) cmd_vm "$@" ;;
  qemu-args) cmd_qemu_args "$@" ;;
  env) cmd_env "$@" ;;
  down) cmd_down "$@" ;;
  *) usage ;;
esac
