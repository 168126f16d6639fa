#!/bin/sh
# ipmi_sim's chassis_control hook for the deploy tests (Rust and browser): the machine is a QEMU
# VM. "power 1" starts it, "power 0" stops it, "reset" restarts it, "boot pxe|default" is kept and
# becomes QEMU's boot order at the next start (one-shot, as on a real BMC). Power is on while the
# QEMU process lives.
# Environment (from the test): VM_DIR (state, serial log), VM_QEMU_ARGS (disk, NIC).
dev=$1; shift; op=$1; shift
log() { echo "$(date +%s.%N) $*" >> "$VM_DIR/events.log"; }
alive() { [ -f "$VM_DIR/qemu.pid" ] && kill -0 "$(cat "$VM_DIR/qemu.pid")" 2>/dev/null; }
start_vm() {
  alive && return 0
  case $(cat "$VM_DIR/boot" 2>/dev/null) in
    pxe) order=n ;; *) order=cn ;;
  esac
  echo default > "$VM_DIR/boot"
  # shellcheck disable=SC2086
  qemu-system-x86_64 -accel tcg -m 512 -nodefaults -nographic -monitor none \
    -serial file:"$VM_DIR/console.log" -boot order=$order $VM_QEMU_ARGS \
    > "$VM_DIR/qemu.out" 2>&1 &
  echo $! > "$VM_DIR/qemu.pid"
  log "$dev started qemu $! boot order $order"
}
stop_vm() {
  alive || return 0
  pid=$(cat "$VM_DIR/qemu.pid"); kill "$pid" 2>/dev/null
  for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null; rm -f "$VM_DIR/qemu.pid"; log "$dev stopped qemu $pid"
}
case $op in
get)
  for p in "$@"; do
    case $p in
      power) if alive; then echo "power:1"; else echo "power:0"; fi ;;
      boot) echo "boot:$(cat "$VM_DIR/boot" 2>/dev/null || echo default)" ;;
      *) exit 1 ;;
    esac
  done ;;
set)
  while [ $# -gt 0 ]; do
    p=$1; v=$2; shift 2
    case $p in
      power) if [ "$v" = 1 ]; then start_vm; else stop_vm; fi ;;
      reset) stop_vm; start_vm ;;
      shutdown) stop_vm ;;
      boot) echo "$v" > "$VM_DIR/boot" ;;
    esac
    log "$dev set $p $v"
  done ;;
*) exit 1 ;;
esac
exit 0
