#!/usr/bin/env bash
# UEFI HTTP boot beside PXE + TFTP: how long one QEMU VM (OVMF, -accel tcg) takes from power-on
# until the agent of the management OS enrolled, booting through each, alternately, in one run.
# Both use EDK2's own network stack (the NIC's iPXE ROM is left out): PXE fetches `ipxe.efi` by
# TFTP after a port 4011 exchange, HTTP boot (OVMF's PXE switched off) by HTTP from the URL baas'
# ProxyDHCP hands it. From iPXE on the two are the same: script, kernel, initrd over HTTP.
# The lab is the browser test's (end2end/vmlab.sh on 10.95.0.0/24): ipmi_sim powers the VM,
# dnsmasq is the site's DHCP, baas runs as ProxyDHCP + TFTP + HTTP; the job is an inventory.
#
#   bench/http-boot.sh          # 3 runs of each
#   RUNS=5 bench/http-boot.sh
#
# Needs root (namespaces, tap), qemu-system-x86_64, OVMF, dnsmasq, ipmi_sim, curl, python3.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/baas/target}"
RUNS=${RUNS:-3}
WORK=${BENCH_DIR:-$HOME/.cache/baas/bench-http-boot}
MGMT=${BAAS_MGMT_OS:-$HOME/.cache/baas/mgmt-os}
VMLAB=$ROOT/end2end/vmlab.sh
LABDIR=$WORK/lab
MAC=52:54:00:be:0f:01

source "$ROOT/bench/lib.sh"
install_missing curl=curl dnsmasq=dnsmasq ipmi_sim=openipmi qemu-system-x86_64=qemu-system-x86 python3=python3
[ -f /usr/share/OVMF/OVMF_CODE_4M.fd ] || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ovmf >/dev/null; }
release_baas
"$ROOT/mgmt/build.sh" "$MGMT" >/dev/null

cleanup() {
  for pid in ${PIDS:-}; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  "$VMLAB" down "$LABDIR" || true
  rm -rf "$WORK"
}
trap cleanup EXIT
rm -rf "$WORK" && mkdir -p "$WORK/data"

"$VMLAB" up "$LABDIR" --subnet 10.95.0
# shellcheck source=/dev/null
. "$LABDIR/env"
truncate -s 64M "$VMLAB_VM_DIR/disk.img"
"$VMLAB" bmc "$LABDIR" --mac "$MAC" --disk "$VMLAB_VM_DIR/disk.img" --firmware uefi --nic virtio-net-pci,romfile=
# shellcheck source=/dev/null
. "$LABDIR/env"

vm_lab_baas vm-http-boot x86_64-uefi

# The firmware the chassis hook starts the VM with at the next power-on.
use_firmware() {
  sed -i -e '/^--firmware$/{n;s/.*/'"$1"'/}' "$VMLAB_VM_DIR/bmc.options"
}

# One inventory job: prints the seconds from powering to enrolled, then cancels the job and
# powers the VM off for the next run.
boot_run() {
  in_srv curl -sf -b "$JAR" -o /dev/null -d "machine_id=$MACHINE&kind=inventory" "$BASE/api/jobs/create" \
    || { echo "creating the inventory job failed" >&2; exit 1; }
  local seconds job
  read -r seconds job < <(in_srv python3 - "$BASE" "$SESSION" "$MACHINE" <<'PY'
import json, sys, time, urllib.request
base, cookie, machine = sys.argv[1:]
started, at = time.monotonic(), {}
while time.monotonic() - started < 600:
    request = urllib.request.Request(f"{base}/api/jobs/panel", data=f"machine_id={machine}".encode(),
                                     headers={"Cookie": cookie})
    job = json.load(urllib.request.urlopen(request))["latest"]
    state = job["state"]
    # An inventory may end right at enrolment: any later state means the agent enrolled.
    if state not in ("queued", "powering", "netbooting", "failed", "cancelled"):
        state = "enrolled"
    at.setdefault(state, time.monotonic())
    if "enrolled" in at and "powering" in at:
        print(f"{at['enrolled'] - at['powering']:.1f} {job['id']}")
        break
    if job["state"] in ("failed", "cancelled"):
        print("job ended", job["state"], job["failed_step"], job["reason"], file=sys.stderr)
        sys.exit(1)
    time.sleep(0.1)
else:
    sys.exit("no enrolment within 600 s")
PY
  )
  [ -n "${job:-}" ] || { echo "the VM did not enrol" >&2; exit 1; }
  in_srv curl -sf -b "$JAR" -o /dev/null -X DELETE "$BASE/api/v1/jobs/$job" || true
  [ -f "$VMLAB_VM_DIR/qemu.pid" ] && kill "$(cat "$VMLAB_VM_DIR/qemu.pid")" 2>/dev/null || true
  sleep 2
  echo "$seconds"
}

pxe=() http=()
for run in $(seq 1 "$RUNS"); do
  use_firmware uefi
  pxe+=("$(boot_run)")
  use_firmware uefi-http
  http+=("$(boot_run)")
  printf 'run %d: power-on to enrolled: PXE + TFTP %s s, HTTP boot %s s\n' "$run" "${pxe[-1]}" "${http[-1]}"
done
read -r pmin pmed pmax < <(printf '%s\n' "${pxe[@]}" | spread)
read -r hmin hmed hmax < <(printf '%s\n' "${http[@]}" | spread)
printf 'power-on to enrolled (min/median/max): PXE + TFTP %s/%s/%s s, UEFI HTTP boot %s/%s/%s s; PXE/HTTP (median) %.2fx\n' \
  "$pmin" "$pmed" "$pmax" "$hmin" "$hmed" "$hmax" "$(echo "$pmed / $hmed" | bc -l)"
