#!/usr/bin/env bash
# A whole deploy of a 256 MiB image onto a QEMU VM (-accel tcg), phase by phase, beside the VM's
# physical limit measured in the same run. The lab is the browser test's (end2end/vmlab.sh, on
# 10.96.0.0/24): the VM's power and next boot belong to ipmi_sim (whose chassis hook starts and
# stops QEMU), dnsmasq is the site's DHCP, baas runs in its own namespace as ProxyDHCP + TFTP +
# HTTP and serves the management OS that mgmt/build.sh builds. The image is mgmt/test-disk.sh's bootable disk grown to 256 MiB with
# random and patterned data, zstd-compressed.
#
# Physical limit = the VM's boot time (power-on until its agent enrolled, as this run saw it) +
# image bytes / the VM disk's write rate, measured by booting the same kernel and drivers with a
# `dd if=/dev/zero of=/dev/vda bs=4M oflag=direct` in place of the agent.
#
#   bench/vm-deploy.sh                 # 256 MiB, 3 runs
#   SIZE_MIB=128 RUNS=1 bench/vm-deploy.sh
#
# Needs root (namespaces, tap), qemu-system-x86_64, dnsmasq, ipmi_sim, curl, zstd, python3.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/baas/target}"
SIZE_MIB=${SIZE_MIB:-256}
RUNS=${RUNS:-3}
WORK=${BENCH_DIR:-$HOME/.cache/baas/bench-vm}
MGMT=${BAAS_MGMT_OS:-$HOME/.cache/baas/mgmt-os}
VMLAB=$ROOT/end2end/vmlab.sh
LABDIR=$WORK/lab
MAC=52:54:00:be:0e:01

source "$ROOT/bench/lib.sh"
install_missing curl=curl zstd=zstd dnsmasq=dnsmasq ipmi_sim=openipmi qemu-system-x86_64=qemu-system-x86 python3=python3
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

echo "preparing a ${SIZE_MIB} MiB bootable image (zstd -3) under $WORK"
MARKER=BAAS-BENCH-$$
"$ROOT/mgmt/test-disk.sh" "$MGMT/vmlinuz" "$WORK/small.img" "$MARKER" >/dev/null
rest=$(( SIZE_MIB - 48 ))
{
  cat "$WORK/small.img"
  head -c $(( rest / 2 ))M /dev/urandom
  head -c $(( rest - rest / 2 ))M < <(yes 'baas benchmark filler line')
} > "$WORK/disk.img"
zstd -q -3 -T0 "$WORK/disk.img" -o "$WORK/disk.img.zst"
rm -f "$WORK/small.img" "$WORK/small.img.zst"
DISK_BYTES=$(( (SIZE_MIB + 64) * 1024 * 1024 ))

# The lab (namespaces, bridge, tap, dnsmasq as the site's DHCP) and the VM's BMC (ipmi_sim, whose
# chassis hook starts and stops the VM on its blank disk).
"$VMLAB" up "$LABDIR" --subnet 10.96.0
# shellcheck source=/dev/null
. "$LABDIR/env"
truncate -s "$DISK_BYTES" "$VMLAB_VM_DIR/disk.img"
"$VMLAB" bmc "$LABDIR" --mac "$MAC" --disk "$VMLAB_VM_DIR/disk.img"
# shellcheck source=/dev/null
. "$LABDIR/env"

vm_lab_baas vm-bench x86_64-bios
IMAGE=$(in_srv curl -sf -b "$JAR" -T "$WORK/disk.img.zst" "$BASE/api/v1/images/vm-bench" | grep -o '"id":[0-9]*' | head -1 | cut -d: -f2)

# One deploy onto a blank disk: the job's states as the machine page's panel shows them, stamped
# when first seen (polled every 100 ms). Prints "state seconds-since-the-job-was-created" lines.
deploy_run() {
  rm -f "$VMLAB_VM_DIR/disk.img"; truncate -s "$DISK_BYTES" "$VMLAB_VM_DIR/disk.img"
  in_srv curl -sf -b "$JAR" -o /dev/null -d "machine_id=$MACHINE&kind=deploy&image_id=$IMAGE" "$BASE/api/jobs/create"
  in_srv python3 - "$BASE" "$SESSION" "$MACHINE" <<'PY'
import json, sys, time, urllib.request
base, cookie, machine = sys.argv[1:]
started, seen = time.monotonic(), set()
while time.monotonic() - started < 600:
    request = urllib.request.Request(f"{base}/api/jobs/panel", data=f"machine_id={machine}".encode(),
                                     headers={"Cookie": cookie})
    job = json.load(urllib.request.urlopen(request))["latest"]
    state = job["state"]
    if state not in seen:
        seen.add(state)
        print(state, f"{time.monotonic() - started:.2f}", flush=True)
    if state in ("booted", "failed", "cancelled"):
        if state != "booted":
            print("job ended", state, job["failed_step"], job["reason"], file=sys.stderr)
            sys.exit(1)
        break
    time.sleep(0.1)
PY
  for _ in $(seq 1 300); do grep -q "$MARKER" "$VMLAB_CONSOLE" 2>/dev/null && break; sleep 0.2; done
  grep -q "$MARKER" "$VMLAB_CONSOLE" || { echo "the written system never printed its marker" >&2; exit 1; }
  for _ in $(seq 1 100); do { [ -f "$VMLAB_VM_DIR/qemu.pid" ] && kill -0 "$(cat "$VMLAB_VM_DIR/qemu.pid")" 2>/dev/null; } || break; sleep 0.2; done
}

# The VM's disk write rate: the management OS's kernel and drivers, with a dd in place of the
# agent (an extra initramfs archive appended to its initrd). Prints MiB/s.
cat > "$WORK/dd-init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for module in $(cat /lib/modules/order); do insmod "/lib/modules/$module" 2>/dev/null; done
for _ in 1 2 3 4 5 6 7 8 9 10; do [ -b /dev/vda ] && break; sleep 0.5; done
start=$(cut -d' ' -f1 /proc/uptime)
dd if=/dev/zero of=/dev/vda bs=4M count=@COUNT@ oflag=direct 2>/dev/null; sync
end=$(cut -d' ' -f1 /proc/uptime)
echo "DD-SECONDS $start $end" > /dev/ttyS0
poweroff -f
INIT
sed -i "s/@COUNT@/$(( SIZE_MIB / 4 ))/" "$WORK/dd-init"
chmod +x "$WORK/dd-init"
(cd "$WORK" && mkdir -p ddroot && cp dd-init ddroot/dd-init && cd ddroot && echo dd-init | cpio -o -H newc -R 0:0 2>/dev/null | gzip) > "$WORK/dd.cpio.gz"
cat "$MGMT/initrd.img" "$WORK/dd.cpio.gz" > "$WORK/dd-initrd.img"
dd_rate() {
  rm -f "$WORK/dd-disk.img"; truncate -s "$DISK_BYTES" "$WORK/dd-disk.img"
  # vmlab.sh's QEMU without a NIC, beside the lab's VM (its own pid file and console).
  "$VMLAB" vm "$LABDIR" --foreground --nic none --disk "$WORK/dd-disk.img" --extra -no-reboot \
    --console "$WORK/dd-console.log" --pid-file "$WORK/dd-qemu.pid" \
    -- -kernel "$MGMT/vmlinuz" -initrd "$WORK/dd-initrd.img" -append 'console=ttyS0,115200 rdinit=/dd-init'
  awk -v mib="$SIZE_MIB" '/DD-SECONDS/ { printf "%.1f\n", mib / ($3 - $2) }' "$WORK/dd-console.log"
}

stats() {  # min median max of the numbers on stdin
  sort -g | awk '{ v[NR] = $1 } END { printf "%.1f %.1f %.1f\n", v[1], v[int((NR + 1) / 2)], v[NR] }'
}
at() { awk -v s="$1" '$1 == s { print $2 }' "$2"; }

totals=() limits=() rates=() boots=()
for run in $(seq 1 "$RUNS"); do
  deploy_run > "$WORK/run-$run"
  rate=$(dd_rate)
  powering=$(at powering "$WORK/run-$run"); enrolled=$(at enrolled "$WORK/run-$run")
  rebooting=$(at rebooting "$WORK/run-$run"); booted=$(at booted "$WORK/run-$run")
  boot=$(echo "$enrolled - $powering" | bc -l)
  limit=$(echo "$boot + $SIZE_MIB / $rate" | bc -l)
  # Written and verified: the agent reports and reboots the machine.
  total=$(echo "$rebooting - $powering" | bc -l)
  printf 'run %d: %s\n' "$run" "$(awk '{ if (NR > 1) printf "%s %.1f s, ", p, $2 - t; p = $1; t = $2 } END { print p }' "$WORK/run-$run")"
  printf '  power-on to written and verified %.1f s (to booted from disk %.1f s); VM boot to enrolled %.1f s, VM disk %s MiB/s: physical limit %.1f s (%.2fx of the deploy)\n' \
    "$total" "$(echo "$booted - $powering" | bc -l)" "$boot" "$rate" "$limit" "$(echo "$limit / $total" | bc -l)"
  totals+=("$total") limits+=("$limit") rates+=("$rate") boots+=("$boot")
done
read -r tmin tmed tmax < <(printf '%s\n' "${totals[@]}" | stats)
read -r lmin lmed lmax < <(printf '%s\n' "${limits[@]}" | stats)
read -r rmin rmed rmax < <(printf '%s\n' "${rates[@]}" | stats)
read -r bmin bmed bmax < <(printf '%s\n' "${boots[@]}" | stats)
printf '%d MiB image (%d MiB stored): power-on to written and verified %s/%s/%s s, physical limit %s/%s/%s s (boot %s/%s/%s s, VM disk %s/%s/%s MiB/s) (min/median/max); limit/deploy (median) %.2fx\n' \
  "$SIZE_MIB" $(( $(stat -c %s "$WORK/disk.img.zst") / 1048576 )) "$tmin" "$tmed" "$tmax" "$lmin" "$lmed" "$lmax" \
  "$bmin" "$bmed" "$bmax" "$rmin" "$rmed" "$rmax" "$(echo "$lmed / $tmed" | bc -l)"
