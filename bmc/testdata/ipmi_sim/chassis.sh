#!/bin/sh
# chassis_control hook: ipmi_sim runs "<hook> <mc> get power|boot" and "<hook> <mc> set <param> <value> ...".
STATE="$(dirname "$0")/state"
mkdir -p "$STATE"
mc=$1; shift; op=$1; shift
case $op in
get)
  for p in "$@"; do
    case $p in
      power) echo "power:$(cat "$STATE/power" 2>/dev/null || echo 0)";;
      boot) echo "boot:$(cat "$STATE/boot" 2>/dev/null || echo default)";;
      *) exit 1;;
    esac
  done;;
set)
  while [ $# -gt 0 ]; do
    p=$1; v=$2; shift 2
    case $p in
      power) echo "$v" > "$STATE/power";;
      shutdown) echo 0 > "$STATE/power";;
      boot) echo "$v" > "$STATE/boot";;
    esac
    echo "$p $v" >> "$STATE/events.log"
  done;;
*) exit 1;;
esac
exit 0
