#!/usr/bin/env bash
# Benchmark, rbd section: our gateway (backstore = rbd) vs librbd's own client (`rbd bench`) on
# the same RBD image of a throwaway single-node Ceph (scripts/ceph-mini-start.sh: memstore OSD,
# no mgr), same run. The gateway is driven by qemu-img bench over libiscsi (as bench/run.sh).
#
#   npm run bench           (runs bench/run.sh, bench/lba-status.sh, then this)
#   bash bench/rbd.sh       (alone, after tsc)
#
# Order, because the gateway holds the image's exclusive lock once it has written (and then
# refuses to hand it to another client): the image is pre-written fully by `rbd bench` (reads
# of absent objects are answered by librbd without the OSD), `rbd bench` runs every case, then
# the gateway runs every case. REPS times each, medians reported, ratio = gateway / rbd bench.
# Both sides share the machine's cores with the OSD and mon: compare the ratios, not absolutes.
#
# Env: REPS (3), OUT (dist/bench), SIZE (1G), RUN_TIMEOUT (120 s per run).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
REPS=${REPS:-3}
OUT=${OUT:-$ROOT/dist/bench}
SIZE=${SIZE:-1G}
RUN_TIMEOUT=${RUN_TIMEOUT:-120}
IQN=iqn.2003-01.com.redhat.iscsi-gw:iscsi-igw
QEMU_INITIATOR=iqn.2008-11.org.linux-kvm
lib() { timeout 60 node "$ROOT/bench/lib.mjs" "$@"; }
. "$ROOT/bench/common.sh"

# name | unit | qemu-img bench count | qemu-img bench arguments | rbd bench arguments
CASES=(
  "rr4k-qd32|IOPS|100000|-c 100000 -d 32 -s 4k -S 33550336|--io-type read --io-size 4K --io-threads 32 --io-total 400M --io-pattern rand"
  "rw4k-qd32|IOPS|50000|-w -c 50000 -d 32 -s 4k -S 33550336|--io-type write --io-size 4K --io-threads 32 --io-total 200M --io-pattern rand"
  "sr1m-qd8|MiB/s|2048|-c 2048 -d 8 -s 1M|--io-type read --io-size 1M --io-threads 8 --io-total 2G --io-pattern seq"
  "sw1m-qd8|MiB/s|1024|-w -c 1024 -d 8 -s 1M|--io-type write --io-size 1M --io-threads 8 --io-total 1G --io-pattern seq"
)

for t in qemu-img rbd ceph-mon ceph-osd; do
  command -v "$t" >/dev/null || { echo "missing $t: sudo bash .ci/run installs Ceph and the peers" >&2; exit 3; }
done
[[ -f dist/src/main.js ]] || { echo "dist/src/main.js missing (run tsc)" >&2; exit 3; }

mkdir -p "$OUT"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/igw-bench-rbd.XXXXXX")
GW_PID=''
cleanup() {
  set +e
  stop_pid "$GW_PID"
  bash "$ROOT/scripts/ceph-mini-stop.sh" "$WORK/ceph" >/dev/null 2>&1
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

CONF=$(CEPH_MINI_MGR=0 timeout 180 bash "$ROOT/scripts/ceph-mini-start.sh" "$WORK/ceph" 2>"$WORK/ceph-start.log") ||
  { cat "$WORK/ceph-start.log" >&2; exit 1; }
rbdc() { timeout "$RUN_TIMEOUT" rbd --conf "$CONF" "$@"; }

start_gateway "$WORK" "$ROOT/dist" 'backstore = rbd' "ceph_config_dir = $WORK/ceph"
api_port=$GW_API_PORT iscsi_port=$GW_ISCSI_PORT
lib lun "$api_port" bench "$SIZE" >/dev/null
URL="iscsi://127.0.0.1:$iscsi_port/$IQN/0"

LOG="$OUT/bench-rbd-$(date -u +%Y%m%dT%H%M%SZ).log"
say() { echo "$*" | tee -a "$LOG"; }
say "# bench rbd $(date -u +%FT%TZ) host=$(hostname) cores=$(nproc) reps=$REPS size=$SIZE image=rbd/bench (memstore OSD, rbd_cache off on both sides)"
say "# pre-write rbd/bench fully (rbd bench, 4 MiB sequential)"
rbdc bench --io-type write --io-size 4M --io-threads 4 --io-total "$SIZE" --io-pattern seq --rbd-cache=false rbd/bench >/dev/null

# rbd bench ARGS -> "IOPS MiB/s" from its summary line (ops/sec, bytes/sec)
rbd_bench() {
  local out
  # shellcheck disable=SC2068
  out=$(rbdc bench $@ --rbd-cache=false rbd/bench 2>&1) || { echo "rbd bench failed: $out" >&2; echo "NaN NaN"; return 0; }
  awk '/^elapsed:/ {
      for (i = 1; i <= NF; i++) { if ($i == "ops/sec:") iops = $(i + 1); if ($i == "bytes/sec:") { b = $(i + 1); u = $(i + 2) } }
      m = (u == "GiB/s") ? b * 1024 : (u == "KiB/s") ? b / 1024 : (u == "B/s") ? b / 1048576 : b
      printf "%.0f %.0f\n", iops, m }' <<<"$out"
}

# qemu-img bench ARGS -> seconds
gw_bench() {
  local out
  # shellcheck disable=SC2068
  out=$(timeout "$RUN_TIMEOUT" qemu-img bench -f raw -t none $@ "$URL" 2>&1) || { echo "qemu-img bench failed: $out" >&2; echo NaN; return 0; }
  sed -n 's/^Run completed in \([0-9.]*\) seconds\./\1/p' <<<"$out"
}

declare -A RES
for c in "${CASES[@]}"; do
  IFS='|' read -r name unit _ _ rargs <<<"$c"
  for rep in $(seq "$REPS"); do
    read -r iops mibs < <(rbd_bench $rargs)
    val=$iops; [[ "$unit" == MiB/s ]] && val=$mibs
    RES[$name,rbd]+="$val "
    say "$name rep $rep rbd-bench: $val $unit"
  done
done
# The gateway writes from here on: it takes the image's exclusive lock.
for c in "${CASES[@]}"; do
  IFS='|' read -r name unit count qargs _ <<<"$c"
  for rep in $(seq "$REPS"); do
    secs=$(gw_bench $qargs)
    val=$(awk -v n="$count" -v s="$secs" -v u="$unit" 'BEGIN { if (s > 0) printf "%.0f", n / s; else print "NaN" }')
    RES[$name,gw]+="$val "
    say "$name rep $rep gateway: ${secs}s -> $val $unit"
  done
done

say ""
say "## rbd: medians of $REPS runs; gateway = qemu-img bench over iSCSI through our daemon, rbd = rbd bench (librbd C++), same image"
say "$(printf '%-10s %-6s %10s %10s %9s' case unit gateway rbd-bench gw/rbd)"
for c in "${CASES[@]}"; do
  IFS='|' read -r name unit _ _ _ <<<"$c"
  # shellcheck disable=SC2086
  g=$(lib median ${RES[$name,gw]}); r=$(lib median ${RES[$name,rbd]})
  say "$(awk -v n="$name" -v u="$unit" -v g="$g" -v r="$r" 'BEGIN { printf "%-10s %-6s %10.0f %10.0f %9s\n", n, u, g, r, (r > 0 ? sprintf("%.2f", g / r) : "n/a") }')"
done
say ""
say "log: $LOG"
