#!/usr/bin/env bash
# Benchmark: management latency at 10, 100 and 1,000 LUNs, and start-to-serving with them.
#
#   npm run bench            (runs bench/run.sh, lba-status.sh, rbd.sh, then this)
#   bash bench/mgmt.sh       (alone, after tsc)
#   BACKSTORE=rbd bash bench/mgmt.sh   (on a throwaway single-node Ceph: RBD images, gateway.conf in RADOS)
#
# One gateway (start_gateway: temp data_dir, loopback API and portal), one target with this gateway
# as its portal, one ACL client. The bench grows the target to each size in SIZES (disks created
# 10 per request, each mapped to the target), then at that size times EXTRA more of each
# operation, one at a time over a kept-alive HTTP connection:
#   disk create     PUT /api/disk/rbd/<new>   mode=create size=IMAGE_SIZE create_image=true
#   disk register   the same for an existing image (create_image=false): the config work without
#                   the image creation (the images come from disks removed with preserve_image=true)
#   LUN map         PUT /api/targetlun/<iqn>  disk=rbd/<new>
#   client map      PUT /api/clientlun/<iqn>/<client> disk=rbd/<new> (a client holds at most 256
#                   LUNs, upstream's range: only these timed maps go to it)
# and prints median and p90 per operation, and the CPU time of the daemon's main thread per
# operation (Linux: steadier than latency when other work shares the machine). Then the client goes and the target's ACL is disabled
# (every initiator sees every LUN), the gateway is stopped (SIGTERM) and started again, 3 times,
# timing from spawn until an iSCSI login + REPORT LUNS lists every LUN (bench/mgmt.mjs serve);
# `iscsi-ls -s` cross-checks the count (not timed).
#
# Env: SIZES ("10 100 1000"), EXTRA (20), IMAGE_SIZE (16M), BACKSTORE (file | rbd), OUT (dist/bench),
# DIST (the daemon's build, default dist/; e.g. `cp -r dist /tmp/base` before a change for a
# before/after run), NODE_FLAGS (passed to the daemon, e.g. --cpu-prof --cpu-prof-dir=/tmp/prof).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SIZES=${SIZES:-10 100 1000}
EXTRA=${EXTRA:-20}
IMAGE_SIZE=${IMAGE_SIZE:-16M}
BACKSTORE=${BACKSTORE:-file}
OUT=${OUT:-$ROOT/dist/bench}
DIST=${DIST:-$ROOT/dist}
export DIST
IQN=iqn.2003-01.com.redhat.iscsi-gw:iscsi-igw
CLIENT=iqn.1994-05.com.redhat:bench-client   # as in bench/mgmt.mjs
lib() { timeout 60 node "$ROOT/bench/lib.mjs" "$@"; }
. "$ROOT/bench/common.sh"

[[ -f "$DIST/src/main.js" && -f "$DIST/test/integration/mini-initiator.js" ]] || { echo "$DIST: no build (run tsc)" >&2; exit 3; }
command -v iscsi-ls >/dev/null || { echo "missing iscsi-ls: sudo bash .ci/run installs the peers" >&2; exit 3; }
case "$BACKSTORE" in
  file) ;;
  rbd) for t in rbd ceph-mon ceph-osd; do
         command -v "$t" >/dev/null || { echo "missing $t: sudo bash .ci/run installs Ceph" >&2; exit 3; }
       done ;;
  *) echo "BACKSTORE must be file or rbd" >&2; exit 2 ;;
esac

mkdir -p "$OUT"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/igw-bench-mgmt.XXXXXX")
GW_PID=''
cleanup() {
  set +e
  stop_pid "$GW_PID"
  [[ -s "$WORK/serve.pid" ]] && stop_pid "$(cat "$WORK/serve.pid")"
  [[ "$BACKSTORE" == rbd ]] && bash "$ROOT/scripts/ceph-mini-stop.sh" "$WORK/ceph" >/dev/null 2>&1
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

extra_cfg=('backstore = file')
if [[ "$BACKSTORE" == rbd ]]; then
  # memstore holds every image's objects in RAM: 16M images, created thin, stay small.
  CONF=$(CEPH_MINI_MGR=0 timeout 180 bash "$ROOT/scripts/ceph-mini-start.sh" "$WORK/ceph" 2>"$WORK/ceph-start.log") ||
    { cat "$WORK/ceph-start.log" >&2; exit 1; }
  extra_cfg=('backstore = rbd' 'config_store = rados' "ceph_config_dir = $WORK/ceph")
fi
start_gateway "$WORK" "$DIST" "${extra_cfg[@]}"

LOG="$OUT/bench-mgmt-$BACKSTORE-$(date -u +%Y%m%dT%H%M%SZ).log"
say() { echo "$*" | tee -a "$LOG"; }
say "# bench mgmt $(date -u +%FT%TZ) host=$(hostname) cores=$(nproc) backstore=$BACKSTORE sizes=[$SIZES] extra=$EXTRA image=$IMAGE_SIZE commit=$(git rev-parse --short HEAD 2>/dev/null || echo '?')"
GW_PID=$GW_PID timeout 3600 node "$ROOT/bench/mgmt.mjs" ops "$GW_API_PORT" "$SIZES" "$EXTRA" "$IMAGE_SIZE" | tee -a "$LOG" "$WORK/ops.out"
luns=$(sed -n 's/^# total LUNs: //p' "$WORK/ops.out")

stop_pid "$GW_PID"
GW_PID=''
say ""
say "## restart with $luns LUNs"
for rep in 1 2 3; do
  timeout 180 node "$ROOT/bench/mgmt.mjs" serve "$WORK/iscsi-gateway.cfg" "$GW_ISCSI_PORT" "$luns" "$WORK/serve.pid" "$WORK/daemon.log" | tee -a "$LOG"
  if (( rep == 3 )); then
    listed=$(timeout 300 iscsi-ls -s -i "$CLIENT" "iscsi://127.0.0.1:$GW_ISCSI_PORT" 2>&1 | grep -c 'Lun:' || true)
    say "iscsi-ls -s (not timed) lists $listed LUNs"
  fi
  stop_pid "$(cat "$WORK/serve.pid")"
  : >"$WORK/serve.pid"
done
say ""
say "log: $LOG"
