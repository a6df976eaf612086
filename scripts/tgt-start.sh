#!/usr/bin/env bash
# Start a private tgtd (STGT user-space target) as the reference peer for conformance and bench runs.
#
#   scripts/tgt-start.sh -p PORT -c CONTROL_PORT -d DIR [-s SIZE] [-T IQN] [-t]
#   scripts/tgt-start.sh -p PORT -c CONTROL_PORT -d DIR -r POOL/IMAGE [-o BSOPTS] [-T IQN]
#
# tgtd listens on 127.0.0.1:PORT with its own control port (-C CONTROL_PORT: the control socket is
# /var/run/tgtd/socket.CONTROL_PORT, so several tgtd can run side by side), serves one target (tid 1,
# default IQN iqn.2003-01.org.example:tgt-ref) with LUN 1 = DIR/lun1.img of SIZE (default 1G) on the
# rdwr backing store, bound to ALL initiators. The image is fully allocated (thick) unless -t (thin:
# sparse file + thin_provisioning=1). LUN 0 is tgt's own controller LUN. With -r, LUN 1 is the RBD
# image POOL/IMAGE on tgt's rbd backing store (Debian tgt-rbd), BSOPTS its options, e.g.
# "conf=/tmp/ceph/ceph.conf;id=admin".
# Prints the tgtd PID on stdout (and writes DIR/tgtd.pid); tgtd's log is DIR/tgtd.log.
# Stop it with scripts/tgt-stop.sh PID CONTROL_PORT (tgtd ignores SIGTERM).
set -euo pipefail

port='' ctl='' dir='' size='1G' iqn='iqn.2003-01.org.example:tgt-ref' thin=0 rbd='' bsopts=''
usage() { echo "usage: $0 -p PORT -c CONTROL_PORT -d DIR [-s SIZE] [-T IQN] [-t] [-r POOL/IMAGE [-o BSOPTS]]" >&2; exit 2; }
while getopts 'p:c:d:s:T:tr:o:h' opt; do
  case "$opt" in
    p) port=$OPTARG ;; c) ctl=$OPTARG ;; d) dir=$OPTARG ;; s) size=$OPTARG ;; T) iqn=$OPTARG ;;
    t) thin=1 ;; r) rbd=$OPTARG ;; o) bsopts=$OPTARG ;; *) usage ;;
  esac
done
[[ -n "$port" && -n "$ctl" && -n "$dir" ]] || usage
[[ "$port" =~ ^[0-9]+$ && "$ctl" =~ ^[0-9]+$ ]] || usage
(( ctl <= 32767 )) || { echo "tgtd accepts control ports 0..32767 only" >&2; exit 2; }
command -v tgtd >/dev/null || { echo "tgtd not found: apt-get install tgt (or sudo bash .ci/run)" >&2; exit 3; }

mkdir -p "$dir"
img="$dir/lun1.img"
rm -f "$img"
if [[ -n "$rbd" ]]; then
  [[ -f /usr/lib/tgt/backing-store/bs_rbd.so ]] || { echo "tgt's rbd backing store not found: apt-get install tgt-rbd" >&2; exit 3; }
elif [[ $thin -eq 1 ]]; then
  truncate -s "$size" "$img"
else
  # Thick: allocate every block up front (fallocate), falling back to writing zeroes.
  fallocate -l "$size" "$img" 2>/dev/null || { truncate -s "$size" "$img"; dd if=/dev/zero of="$img" bs=1M \
    count="$(( $(stat -c %s "$img") / 1048576 ))" conv=notrunc status=none; }
fi

tgtadm_() { timeout 10 tgtadm -C "$ctl" --lld iscsi "$@"; }

# setsid: own process group, so a test runner's Ctrl-C does not reach it; stdin closed.
setsid tgtd -f -C "$ctl" --iscsi "portal=127.0.0.1:$port" >"$dir/tgtd.log" 2>&1 </dev/null &
pid=$!
echo "$pid" >"$dir/tgtd.pid"
# Any failure from here on must not leave a tgtd behind (it ignores SIGTERM: SIGKILL by PID).
started=0
cleanup() {
  if (( started == 0 )); then
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "/var/run/tgtd/socket.$ctl" "/var/run/tgtd/socket.$ctl.lock"
  fi
}
trap cleanup EXIT

# Ready when the control socket answers (poll with a deadline; no fixed sleep).
deadline=$(( SECONDS + 15 ))
until tgtadm_ --op show --mode sys >/dev/null 2>&1; do
  if ! kill -0 "$pid" 2>/dev/null; then echo "tgtd exited early:" >&2; cat "$dir/tgtd.log" >&2; exit 1; fi
  if (( SECONDS > deadline )); then echo "tgtd control port $ctl not ready" >&2; exit 1; fi
  sleep 0.1
done

# tgtd that cannot bind its --iscsi portal (port taken) silently falls back to [::]:3260 and
# 0.0.0.0:3260: refuse anything but exactly our loopback portal.
portals=$(tgtadm_ --op show --mode portal 2>&1 | sed -n 's/^Portal: //p')
if [[ "$portals" != "127.0.0.1:$port,1" ]]; then
  echo "tgtd did not bind 127.0.0.1:$port (portals: ${portals//$'\n'/ }):" >&2
  grep -i 'bind\|portal' "$dir/tgtd.log" >&2 || true
  exit 1
fi

tgtadm_ --op new --mode target --tid 1 -T "$iqn"
if [[ -n "$rbd" ]]; then
  tgtadm_ --op new --mode logicalunit --tid 1 --lun 1 -b "$rbd" --bstype rbd ${bsopts:+--bsopts "$bsopts"}
else
  tgtadm_ --op new --mode logicalunit --tid 1 --lun 1 -b "$img" --bstype rdwr
fi
if [[ $thin -eq 1 ]]; then
  tgtadm_ --op update --mode logicalunit --tid 1 --lun 1 --params thin_provisioning=1
fi
tgtadm_ --op bind --mode target --tid 1 -I ALL

# The portal is up when the TCP port accepts connections.
deadline=$(( SECONDS + 10 ))
until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
  if (( SECONDS > deadline )); then echo "tgtd portal 127.0.0.1:$port not listening" >&2; exit 1; fi
  sleep 0.1
done
started=1
echo "$pid"
