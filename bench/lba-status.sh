#!/usr/bin/env bash
# GET LBA STATUS on a fragmented thin LUN: ours vs tgt (thin_provisioning=1), same initiator.
#
#   bash bench/lba-status.sh        (also run by `npm run bench`)
#
# Both targets get a fresh 1 GiB thin LUN; 21 000 scattered 4 KiB writes fragment it (qemu-img bench
# -w -c 21000 -d 32 -s 4k -S 33550336, as in iscsi-peers-and-clients.md §3), then `qemu-img map` walks
# the whole LUN with GET LBA STATUS. qemu asks GET LBA STATUS a lot (qemu-nbd reads, qemu-img map/convert),
# so its cost matters: tgt takes ~1 s per call on such a LUN. Prints seconds and map entries per target.
# Env: SIZE (1G), MAP_TIMEOUT (900 s per map). Both targets are stopped by PID on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SIZE=${SIZE:-1G}
MAP_TIMEOUT=${MAP_TIMEOUT:-900}
IQN=iqn.2003-01.com.redhat.iscsi-gw:iscsi-igw
QEMU_INITIATOR=iqn.2008-11.org.linux-kvm
lib() { timeout 60 node "$ROOT/bench/lib.mjs" "$@"; }
. "$ROOT/bench/common.sh"
[[ -f dist/src/main.js ]] || { echo "dist/src/main.js missing: npm run build" >&2; exit 3; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/igw-lbastatus.XXXXXX")
OURS_PID='' TGT_PID='' TGT_CTL=''
cleanup() {
  set +e
  stop_pid "$OURS_PID"
  [[ -n "$TGT_PID" ]] && bash "$ROOT/scripts/tgt-stop.sh" "$TGT_PID" "$TGT_CTL" >/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_gateway "$WORK/ours" "$ROOT/dist"
OURS_PID=$GW_PID api_port=$GW_API_PORT iscsi_port=$GW_ISCSI_PORT
lib lun "$api_port" thin "$SIZE" >/dev/null

TGT_CTL=$(( 2000 + RANDOM % 30000 ))
while [[ -e /var/run/tgtd/socket.$TGT_CTL ]]; do TGT_CTL=$(( 2000 + RANDOM % 30000 )); done
tgt_port=$(lib freeport)
TGT_PID=$(timeout 60 bash "$ROOT/scripts/tgt-start.sh" -p "$tgt_port" -c "$TGT_CTL" -d "$WORK/tgt" -s "$SIZE" -t | tail -1)

echo "## GET LBA STATUS: qemu-img map of a fragmented thin $SIZE LUN (21000 scattered 4 KiB writes)"
printf '%-6s %10s %12s\n' target entries seconds
declare -A SECS
for target in ours tgt; do
  if [[ $target == ours ]]; then url="iscsi://127.0.0.1:$iscsi_port/$IQN/0"; else url="iscsi://127.0.0.1:$tgt_port/iqn.2003-01.org.example:tgt-ref/1"; fi
  timeout 300 qemu-img bench -f raw -t none -w -c 21000 -d 32 -s 4k -S 33550336 "$url" >/dev/null
  t0=$(date +%s.%N)
  entries=$(timeout "$MAP_TIMEOUT" qemu-img map -f raw --output=json "$url" | wc -l)
  t1=$(date +%s.%N)
  SECS[$target]=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
  printf '%-6s %10s %12s\n' "$target" "$entries" "${SECS[$target]}"
done
awk -v a="${SECS[tgt]}" -v b="${SECS[ours]}" 'BEGIN { if (b > 0) printf "tgt/ours time ratio: %.0fx\n", a / b }'
