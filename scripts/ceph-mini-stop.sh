#!/usr/bin/env bash
# scripts/ceph-mini-stop.sh DIR
#
# Stops the daemons of the cluster that ceph-mini-start.sh made in DIR: mgr, then OSD, then mon.
# Only the pids in DIR/run/*.pid whose command line carries "--conf DIR/ceph.conf" are
# signalled (SIGTERM; SIGKILL after CEPH_MINI_STOP_TIMEOUT seconds, default 60, and exit 1).
# The files stay: ceph-mini-start.sh DIR starts the cluster again; `rm -rf DIR` removes it.
# A memstore OSD saves its contents to DIR on a clean stop, which takes a moment when it is big.
set -euo pipefail

me=ceph-mini
say() { printf '%s: %s\n' "$me" "$*" >&2; }

[ $# -eq 1 ] || { echo "usage: ceph-mini-stop.sh DIR" >&2; exit 2; }
[ -d "$1" ] || { say "no directory '$1', nothing to stop"; exit 0; }
dir=$(cd -- "$1" && pwd -P)
conf=$dir/ceph.conf
grace=${CEPH_MINI_STOP_TIMEOUT:-60}
[[ "$grace" =~ ^[0-9]+$ ]] || { say "CEPH_MINI_STOP_TIMEOUT must be a number"; exit 2; }
[ -f "$dir/.ceph-mini" ] || { say "error: $dir was not made by ceph-mini-start.sh"; exit 1; }

# A stopped daemon stays a zombie until its parent reaps it: kill -0 alone is not enough.
running() { kill -0 "$1" 2>/dev/null && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null || echo Z)" != Z ]; }

rc=0
shopt -s nullglob
for kind in mgr osd mon; do
  for pf in "$dir"/run/"$kind".*.pid; do
    name=$(basename "$pf" .pid)
    pid=$(<"$pf") || pid=
    if ! [[ "$pid" =~ ^[0-9]+$ ]] || ! [ -r "/proc/$pid/cmdline" ] ||
      ! tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "--conf $conf "; then
      rm -f -- "$pf"
      continue
    fi
    start=$SECONDS
    kill -TERM "$pid" 2>/dev/null || true
    while running "$pid" && ((SECONDS - start < grace)); do sleep 0.1; done
    if running "$pid"; then
      say "$name (pid $pid) ignored SIGTERM for ${grace}s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      rc=1
    else
      say "stopped $name (pid $pid)"
    fi
    rm -f -- "$pf"
  done
done
exit "$rc"
