#!/usr/bin/env bash
# Stop a tgtd started by scripts/tgt-start.sh:   scripts/tgt-stop.sh PID CONTROL_PORT
#
# tgtd ignores SIGTERM, and `tgtadm --op delete --mode system` answers "invalid request" while targets
# exist. Working order: state offline, delete every target with --force, delete the system, wait for
# the PID to exit; SIGKILL that PID (only that PID) if it is still there after the deadline.
set -uo pipefail

pid=${1:-} ctl=${2:-}
[[ "$pid" =~ ^[0-9]+$ && "$ctl" =~ ^[0-9]+$ ]] || { echo "usage: $0 PID CONTROL_PORT" >&2; exit 2; }

if ! kill -0 "$pid" 2>/dev/null; then echo "tgtd $pid is not running"; exit 0; fi
# Refuse to signal a PID that is not a tgtd (PID reuse).
if [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" != tgtd ]]; then echo "pid $pid is not tgtd" >&2; exit 1; fi

tgtadm_() { timeout 10 tgtadm -C "$ctl" --lld iscsi "$@"; }
tgtadm_ --op update --mode sys --name State -v offline >/dev/null 2>&1 || true
for tid in $(tgtadm_ --op show --mode target 2>/dev/null | sed -n 's/^Target \([0-9]*\):.*/\1/p'); do
  tgtadm_ --op delete --force --mode target --tid "$tid" >/dev/null 2>&1 || true
done
tgtadm_ --op delete --mode system >/dev/null 2>&1 || true

deadline=$(( SECONDS + 10 ))
# A zombie (exited, not yet reaped by its parent) counts as stopped.
alive() { local st; st=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$pid/status" 2>/dev/null) || return 1
  [[ -n "$st" && "$st" != Z ]]; }
while alive; do
  if (( SECONDS > deadline )); then
    echo "tgtd $pid did not exit; SIGKILL" >&2
    kill -KILL "$pid" 2>/dev/null || true
    break
  fi
  sleep 0.1
done
# tgtd leaves its control socket behind; remove this instance's (only once it is gone).
alive || rm -f "/var/run/tgtd/socket.$ctl" "/var/run/tgtd/socket.$ctl.lock"
echo "tgtd $pid stopped"
