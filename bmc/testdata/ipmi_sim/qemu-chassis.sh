#!/bin/sh
# ipmi_sim's chassis_control hook for the VM lab (end2end/vmlab.sh bmc starts ipmi_sim with it):
# the machine is a QEMU VM. "power 1" starts it, "power 0" stops it, "reset" restarts it,
# "boot pxe|default" is kept and becomes QEMU's boot order at the next start (one-shot, as on a
# real BMC). Power is on while the QEMU process lives. QEMU's command line is vmlab.sh's (`vm`,
# with the options `vmlab.sh bmc` saved in $VMLAB_DIR/vm/bmc.options).
# Environment (from vmlab.sh bmc): VMLAB (the script), VMLAB_DIR (the lab).
dev=$1; shift; op=$1; shift
VM_DIR=$VMLAB_DIR/vm
log() { echo "$(date +%s.%N) $*" >> "$VM_DIR/events.log"; }
alive() { [ -f "$VM_DIR/qemu.pid" ] && kill -0 "$(cat "$VM_DIR/qemu.pid")" 2>/dev/null; }
start_vm() {
  alive && return 0
  case $(cat "$VM_DIR/boot" 2>/dev/null) in
    pxe) order=n ;; *) order=cn ;;
  esac
  echo default > "$VM_DIR/boot"
  set --
  while IFS= read -r option; do set -- "$@" "$option"; done < "$VM_DIR/bmc.options"
  if ! "$VMLAB" vm "$VMLAB_DIR" "$@" --boot "$order" >> "$VM_DIR/vmlab.log" 2>&1; then
    log "$dev starting qemu failed: $(tail -1 "$VM_DIR/vmlab.log")"
    return 1
  fi
  log "$dev started qemu $(cat "$VM_DIR/qemu.pid") boot order $order"
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
