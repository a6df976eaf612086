#!/usr/bin/env bash
# Benchmark, rbd section: our gateway (backstore = rbd) vs tgt's RBD backing store (Debian
# tgt-rbd, `--bstype rbd`: the same iSCSI hop and the same librbd client), both driven by
# qemu-img bench over libiscsi, plus `rbd bench` (librbd's own C++ client, no iSCSI) as the upper
# bound, on a throwaway single-node Ceph (scripts/ceph-mini-start.sh: memstore OSD, no mgr).
#
# tgt runs twice: `tgt` with librbd's defaults (rbd cache on, policy writearound: once the
# first flush has come (qemu-img sends one when it closes), a write is acknowledged before it
# is on the OSDs, which tgt may do as it reports a volatile write cache, WCE=1), and `tgtnc`
# with `rbd cache = false`, the setting of tcmu-runner and ours: a write is acknowledged once
# the OSDs have it. Same durability: compare ours with tgtnc; tgt is what a user gets by default.
#
#   npm run bench           (runs bench/run.sh, bench/lba-status.sh, then this)
#   bash bench/rbd.sh       (alone, after tsc)
#
# Identical images, one per client (rbd/bench-ours, rbd/bench-tgt, rbd/bench-tgtnc, rbd/bench-rbd), each
# pre-written fully by `rbd bench` (reads of absent objects are answered by librbd without the
# OSD), so no client ever waits for another's exclusive lock. Every case runs REPS times, the
# clients alternating within each repetition (ABCDABCD); medians reported; ratios ours/tgt,
# ours/tgtnc and ours/rbd-bench. CPU per I/O (µs of CPU per command, user+system) for the target process
# (ours, tgtd; for rbd bench its own process), for the initiator (qemu-img) and for the OSD: the
# client, the target and the OSD share the machine's cores, so compare the ratios and the CPU.
#
# Env: REPS (3), OUT (dist/bench), SIZE (1G), RUN_TIMEOUT (120 s per run), CASES (all),
#      TARGETS ("ours tgt tgtnc rbd"; any subset; "base" = our daemon built into BASE_DIST, for
#      before/after runs as in bench/run.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
REPS=${REPS:-3}
OUT=${OUT:-$ROOT/dist/bench}
SIZE=${SIZE:-1G}
RUN_TIMEOUT=${RUN_TIMEOUT:-120}
TARGETS=${TARGETS:-ours tgt tgtnc rbd}
IQN=iqn.2003-01.com.redhat.iscsi-gw:iscsi-igw
lib() { timeout 60 node "$ROOT/bench/lib.mjs" "$@"; }
. "$ROOT/bench/common.sh"

# name | unit | count | qemu-img bench arguments | rbd bench arguments (the same I/O)
ALL_CASES=(
  "rr4k-qd1|IOPS|20000|-c 20000 -d 1 -s 4k -S 33550336|--io-type read --io-size 4K --io-threads 1 --io-total 80M --io-pattern rand"
  "rr4k-qd32|IOPS|100000|-c 100000 -d 32 -s 4k -S 33550336|--io-type read --io-size 4K --io-threads 32 --io-total 400M --io-pattern rand"
  "rw4k-qd1|IOPS|10000|-w -c 10000 -d 1 -s 4k -S 33550336|--io-type write --io-size 4K --io-threads 1 --io-total 40M --io-pattern rand"
  "rw4k-qd32|IOPS|50000|-w -c 50000 -d 32 -s 4k -S 33550336|--io-type write --io-size 4K --io-threads 32 --io-total 200M --io-pattern rand"
  "sr1m-qd8|MiB/s|2048|-c 2048 -d 8 -s 1M|--io-type read --io-size 1M --io-threads 8 --io-total 2G --io-pattern seq"
  "sw1m-qd8|MiB/s|1024|-w -c 1024 -d 8 -s 1M|--io-type write --io-size 1M --io-threads 8 --io-total 1G --io-pattern seq"
)
CASES=${CASES:-rr4k-qd1 rr4k-qd32 rw4k-qd1 rw4k-qd32 sr1m-qd8 sw1m-qd8}

for t in qemu-img rbd ceph-mon ceph-osd tgtd tgtadm; do
  command -v "$t" >/dev/null || { echo "missing $t: sudo bash .ci/run installs Ceph and the peers" >&2; exit 3; }
done
if [[ " $TARGETS " == *" tgt"* && ! -f /usr/lib/tgt/backing-store/bs_rbd.so ]]; then
  echo "missing tgt's rbd backing store: apt-get install tgt-rbd (sudo bash .ci/run installs it)" >&2; exit 3
fi
[[ -f dist/src/main.js ]] || { echo "dist/src/main.js missing (run tsc)" >&2; exit 3; }

mkdir -p "$OUT"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/igw-bench-rbd.XXXXXX")
GW_PIDS=() TGT_PIDS=()
cleanup() {
  set +e
  stop_pid "${GW_PIDS[@]}"
  for t in "${TGT_PIDS[@]}"; do bash "$ROOT/scripts/tgt-stop.sh" ${t/:/ } >/dev/null; done
  bash "$ROOT/scripts/ceph-mini-stop.sh" "$WORK/ceph" >/dev/null 2>&1
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Room for the images in the memstore OSD (it counts logical sizes).
size_bytes=$(numfmt --from=iec "$SIZE")
n_images=$(wc -w <<<"$TARGETS")
export CEPH_MINI_STORE_BYTES=$(( size_bytes * n_images + 4 * 1073741824 ))
CONF=$(CEPH_MINI_MGR=0 timeout 180 bash "$ROOT/scripts/ceph-mini-start.sh" "$WORK/ceph" 2>"$WORK/ceph-start.log") ||
  { cat "$WORK/ceph-start.log" >&2; exit 1; }
OSD_PID=$(<"$WORK/ceph/run/osd.0.pid")
rbdc() { timeout "$RUN_TIMEOUT" rbd --conf "$CONF" "$@"; }

LOG="$OUT/bench-rbd-$(date -u +%Y%m%dT%H%M%SZ).log"
say() { echo "$*" | tee -a "$LOG"; }
say "# bench rbd $(date -u +%FT%TZ) host=$(hostname) cores=$(nproc) reps=$REPS size=$SIZE targets=[$TARGETS] (memstore OSD; rbd cache off for ours, tgtnc and rbd bench; tgt with librbd defaults)"

# Create and pre-write every image fully (4 MiB sequential writes through librbd, not timed)
# before any target opens it: our gateway takes the exclusive lock of its image at once.
for target in $TARGETS; do
  rbdc create --size "$SIZE" "rbd/bench-$target"
  say "# pre-write rbd/bench-$target: $SIZE (rbd bench, 4 MiB sequential)"
  rbdc bench --io-type write --io-size 4M --io-threads 4 --io-total "$SIZE" --io-pattern seq --rbd-cache=false "rbd/bench-$target" >/dev/null
done

declare -A URL PID
for target in $TARGETS; do
  case "$target" in
    ours|base)
      dist=$(gateway_dist "$target")
      start_gateway "$WORK/$target" "$dist" 'backstore = rbd' "ceph_config_dir = $WORK/ceph"
      lib lun "$GW_API_PORT" "bench-$target" "$SIZE" existing >/dev/null
      URL[$target]="iscsi://127.0.0.1:$GW_ISCSI_PORT/$IQN/0"
      PID[$target]=$GW_PID
      GW_PIDS+=("$GW_PID")
      ;;
    tgt|tgtnc)
      conf=$CONF
      if [[ "$target" == tgtnc ]]; then
        # The cluster's conf with the rbd cache off for this client only.
        conf=$WORK/ceph-nocache.conf
        sed 's/^\[client\]$/[client]\nrbd cache = false/' "$CONF" >"$conf"
        grep -q '^rbd cache = false$' "$conf" || { echo "no [client] section in $CONF" >&2; exit 1; }
      fi
      ctl=$(( 2000 + RANDOM % 30000 ))
      while [[ -e /var/run/tgtd/socket.$ctl ]]; do ctl=$(( 2000 + RANDOM % 30000 )); done
      tgt_port=$(lib freeport)
      pid=$(timeout 60 bash "$ROOT/scripts/tgt-start.sh" -p "$tgt_port" -c "$ctl" -d "$WORK/$target" \
        -r "rbd/bench-$target" -o "conf=$conf;id=admin" -T "iqn.2003-01.org.example:$target" | tail -1)
      TGT_PIDS+=("$pid:$ctl")
      URL[$target]="iscsi://127.0.0.1:$tgt_port/iqn.2003-01.org.example:$target/1"
      PID[$target]=$pid
      ;;
    rbd) ;;
    *) echo "unknown target $target" >&2; exit 2 ;;
  esac
  [[ -n "${URL[$target]:-}" ]] && say "# $target: ${URL[$target]} pid ${PID[$target]}"
done

ticks() { lib cpu "$1"; }
HZ=$(getconf CLK_TCK)

# run TARGET CASE-LINE -> "value target-cpu-us/io initiator-cpu-us/io osd-cpu-us/io"
run() {
  local target=$1 unit=$2 count=$3 qargs=$4 rargs=$5 out o0 o1 t0 t1 secs val tgt_us ini_us
  local TIMEFORMAT='%U %S'
  o0=$(ticks "$OSD_PID")
  if [[ "$target" == rbd ]]; then
    # rbd bench is both the initiator and the "target": its CPU is counted as the target's.
    # shellcheck disable=SC2086
    { out=$( { time rbdc bench $rargs --rbd-cache=false rbd/bench-rbd >"$WORK/out" 2>&1; } 2>&1 ); } || true
    o1=$(ticks "$OSD_PID")
    read -r u s <<<"$(tail -1 <<<"$out")"
    awk -v unit="$unit" -v u="$u" -v s="$s" -v o0="$o0" -v o1="$o1" -v hz="$HZ" '
      /^elapsed:/ { for (i = 1; i <= NF; i++) { if ($i == "ops/sec:") iops = $(i + 1); if ($i == "ops:") ops = $(i + 1); if ($i == "bytes/sec:") { b = $(i + 1); bu = $(i + 2) } }
                    m = (bu == "GiB/s") ? b * 1024 : (bu == "KiB/s") ? b / 1024 : (bu == "B/s") ? b / 1048576 : b }
      END { if (ops <= 0) { print "NaN NaN NaN NaN"; exit }
            printf "%.0f %.1f - %.1f\n", (unit == "MiB/s" ? m : iops), (u + s) * 1e6 / ops, (o1 - o0) / hz * 1e6 / ops }' "$WORK/out"
    return 0
  fi
  local pid=${PID[$target]}
  t0=$(ticks "$pid")
  # shellcheck disable=SC2086
  out=$( { time timeout "$RUN_TIMEOUT" qemu-img bench -f raw -t none $qargs "${URL[$target]}" >"$WORK/out" 2>&1; } 2>&1 ) || true
  t1=$(ticks "$pid"); o1=$(ticks "$OSD_PID")
  read -r u s <<<"$(tail -1 <<<"$out")"
  secs=$(sed -n 's/^Run completed in \([0-9.]*\) seconds\./\1/p' "$WORK/out")
  [[ -n "$secs" ]] || { echo "qemu-img bench failed on $target: $(head -3 "$WORK/out")" >&2; echo "NaN NaN NaN NaN"; return 0; }
  awk -v n="$count" -v sec="$secs" -v u="$u" -v s="$s" -v t0="$t0" -v t1="$t1" -v o0="$o0" -v o1="$o1" -v hz="$HZ" \
    'BEGIN { printf "%.0f %.1f %.1f %.1f\n", n / sec, (t1 - t0) / hz * 1e6 / n, (u + s) * 1e6 / n, (o1 - o0) / hz * 1e6 / n }'
}

declare -A RES TCPU ICPU OCPU
for c in "${ALL_CASES[@]}"; do
  IFS='|' read -r name unit count qargs rargs <<<"$c"
  [[ " $CASES " == *" $name "* ]] || continue
  for rep in $(seq "$REPS"); do
    for target in $TARGETS; do
      read -r val tus ius ous < <(run "$target" "$unit" "$count" "$qargs" "$rargs")
      RES[$name,$target]+="$val " TCPU[$name,$target]+="$tus " ICPU[$name,$target]+="$ius " OCPU[$name,$target]+="$ous "
      say "$name rep $rep $target: $val $unit; CPU µs/IO target $tus initiator $ius osd $ous"
    done
  done
done

say ""
say "## rbd: medians of $REPS runs (ours, tgt = qemu-img bench over iSCSI; rbd = rbd bench, librbd without iSCSI); CPU in µs per I/O"
hdr=$(printf '%-10s %-6s' case unit)
for target in $TARGETS; do hdr+=$(printf ' %9s %7s' "$target" cpu/io); done
[[ " $TARGETS " == *" ours "* && " $TARGETS " == *" tgt "* ]] && hdr+=$(printf ' %9s' ours/tgt)
[[ " $TARGETS " == *" ours "* && " $TARGETS " == *" tgtnc "* ]] && hdr+=$(printf ' %9s' ours/tgtnc)
[[ " $TARGETS " == *" ours "* && " $TARGETS " == *" rbd "* ]] && hdr+=$(printf ' %9s' ours/rbd)
[[ " $TARGETS " == *" ours "* && " $TARGETS " == *" base "* ]] && hdr+=$(printf ' %9s' ours/base)
hdr+="   initiator cpu/io (per iSCSI target), osd cpu/io (per target)"
say "$hdr"
for c in "${ALL_CASES[@]}"; do
  IFS='|' read -r name unit _ _ _ <<<"$c"
  [[ " $CASES " == *" $name "* ]] || continue
  line=$(printf '%-10s %-6s' "$name" "$unit")
  declare -A MED=()
  extra=''
  for target in $TARGETS; do
    # shellcheck disable=SC2086
    MED[$target]=$(lib median ${RES[$name,$target]})
    # shellcheck disable=SC2086
    line+=$(printf ' %9.0f %7.1f' "${MED[$target]}" "$(lib median ${TCPU[$name,$target]})")
    # shellcheck disable=SC2086
    [[ "$target" != rbd ]] && extra+=" ini:$target=$(lib median ${ICPU[$name,$target]})"
    # shellcheck disable=SC2086
    extra+=" osd:$target=$(lib median ${OCPU[$name,$target]})"
  done
  ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf " %9.2f", a / b; else printf " %9s", "n/a" }'; }
  [[ -n "${MED[ours]:-}" && -n "${MED[tgt]:-}" ]] && line+=$(ratio "${MED[ours]}" "${MED[tgt]}")
  [[ -n "${MED[ours]:-}" && -n "${MED[tgtnc]:-}" ]] && line+=$(ratio "${MED[ours]}" "${MED[tgtnc]}")
  [[ -n "${MED[ours]:-}" && -n "${MED[rbd]:-}" ]] && line+=$(ratio "${MED[ours]}" "${MED[rbd]}")
  [[ -n "${MED[ours]:-}" && -n "${MED[base]:-}" ]] && line+=$(ratio "${MED[ours]}" "${MED[base]}")
  say "$line  $extra"
done
say ""
say "log: $LOG"
