#!/usr/bin/env bash
# Benchmark: our gateway vs tgt, same host, same initiator (qemu-img bench over libiscsi), ABAB order.
#
#   npm run bench            (= tsc && bash bench/run.sh)
#
# Our gateway: temp data dir, file backstore, 1 GiB LUN 0 mapped to qemu's initiator name (no CHAP).
# tgt: 1 GiB thick file LUN (rdwr), via scripts/tgt-start.sh. Both LUNs are pre-written fully with
# 1 MiB writes (allocation + page cache), then each case runs REPS times per target, alternating.
# IOPS = count / seconds ("Run completed in X seconds."); MiB/s for the 1 MiB cases. CPU% is the
# target process's utime+stime over the run's wall time (100 % = one core; the host has 2).
#
# Env: REPS (3), TARGETS ("ours tgt"; "tgt" alone works without the daemon; "base" = our daemon built
# into BASE_DIST, e.g. `cp -r dist /tmp/base` before a change, for A/B runs "ours base"; "nometrics" = ours
# with prometheus_exporter = false, for the exporter's cost: "ours nometrics", bench/metrics.sh), CASES (all),
# OUT (dist/bench), SIZE (1G), RUN_TIMEOUT (120 s per qemu-img run), SCRAPE_MS (0: off; else ours and base
# are scraped on /metrics every SCRAPE_MS ms for the whole run, as a Prometheus would), ORDER (abab: the
# targets in the same order in every repetition; abba: reversed in every other one).
# Every step runs under `timeout`; both targets are stopped by PID on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
REPS=${REPS:-3}
TARGETS=${TARGETS:-ours tgt}
OUT=${OUT:-$ROOT/dist/bench}
SIZE=${SIZE:-1G}
RUN_TIMEOUT=${RUN_TIMEOUT:-120}
IQN=iqn.2003-01.com.redhat.iscsi-gw:iscsi-igw
QEMU_INITIATOR=iqn.2008-11.org.linux-kvm   # qemu-img's initiator name (no VM name/uuid)
lib() { timeout 60 node "$ROOT/bench/lib.mjs" "$@"; }
. "$ROOT/bench/common.sh"

# name | unit | count | qemu-img bench arguments (exact commands: iscsi-peers-and-clients.md §6)
ALL_CASES=(
  "rr4k-qd1|IOPS|100000|-c 100000 -d 1 -s 4k -S 33550336"
  "rr4k-qd32|IOPS|100000|-c 100000 -d 32 -s 4k -S 33550336"
  "rw4k-qd1|IOPS|50000|-w -c 50000 -d 1 -s 4k -S 33550336"
  "rw4k-qd32|IOPS|100000|-w -c 100000 -d 32 -s 4k -S 33550336"
  "sr1m-qd8|MiB/s|2048|-c 2048 -d 8 -s 1M"
  "sw1m-qd8|MiB/s|2048|-w -c 2048 -d 8 -s 1M"
)
CASES=${CASES:-rr4k-qd1 rr4k-qd32 rw4k-qd1 rw4k-qd32 sr1m-qd8 sw1m-qd8}

for t in qemu-img iscsi-readcapacity16 tgtd tgtadm; do
  command -v "$t" >/dev/null || { echo "missing $t: sudo bash .ci/run installs the peers" >&2; exit 3; }
done

mkdir -p "$OUT"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/igw-bench.XXXXXX")
SCRAPE_MS=${SCRAPE_MS:-0}
ORDER=${ORDER:-abab}
OURS_PID='' BASE_PID='' NOMETRICS_PID='' TGT_PID='' TGT_CTL='' SCRAPERS=''
cleanup() {
  set +e
  stop_pid $SCRAPERS
  stop_pid $OURS_PID $BASE_PID $NOMETRICS_PID
  [[ -n "$TGT_PID" ]] && bash "$ROOT/scripts/tgt-stop.sh" "$TGT_PID" "$TGT_CTL" >/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

declare -A URL PID
for target in $TARGETS; do
  case "$target" in
    ours|base|nometrics)
      dist=$(gateway_dist "$target")
      [[ -f "$dist/src/main.js" ]] || { echo "$dist/src/main.js missing (run tsc; or TARGETS=tgt)" >&2; exit 3; }
      if [[ "$target" == nometrics ]]; then
        start_gateway "$WORK/$target" "$dist" 'backstore = file' 'prometheus_exporter = false'
      else
        start_gateway "$WORK/$target" "$dist" 'backstore = file'
      fi
      case "$target" in ours) OURS_PID=$GW_PID ;; base) BASE_PID=$GW_PID ;; *) NOMETRICS_PID=$GW_PID ;; esac
      if [[ "$target" != nometrics ]] && (( SCRAPE_MS > 0 )); then
        node "$ROOT/bench/lib.mjs" scrape "$GW_METRICS_PORT" "$SCRAPE_MS" >"$WORK/$target.scrapes" 2>&1 &
        SCRAPERS+=" $!"
      fi
      api_port=$GW_API_PORT iscsi_port=$GW_ISCSI_PORT pid=$GW_PID
      lib lun "$api_port" bench "$SIZE" >/dev/null
      URL[$target]="iscsi://127.0.0.1:$iscsi_port/$IQN/0"
      PID[$target]=$pid
      ;;
    tgt)
      TGT_CTL=$(( 2000 + RANDOM % 30000 ))
      while [[ -e /var/run/tgtd/socket.$TGT_CTL ]]; do TGT_CTL=$(( 2000 + RANDOM % 30000 )); done
      tgt_port=$(lib freeport)
      TGT_PID=$(timeout 60 bash "$ROOT/scripts/tgt-start.sh" -p "$tgt_port" -c "$TGT_CTL" -d "$WORK/tgt" -s "$SIZE" | tail -1)
      URL[tgt]="iscsi://127.0.0.1:$tgt_port/iqn.2003-01.org.example:tgt-ref/1"
      PID[tgt]=$TGT_PID
      ;;
    *) echo "unknown target $target" >&2; exit 2 ;;
  esac
done

LOG="$OUT/bench-$(date -u +%Y%m%dT%H%M%SZ).log"
say() { echo "$*" | tee -a "$LOG"; }
say "# bench $(date -u +%FT%TZ) host=$(hostname) cores=$(nproc) reps=$REPS size=$SIZE targets=[$TARGETS] order=$ORDER scrape=${SCRAPE_MS}ms"
for target in $TARGETS; do
  # Thin (LBPME=1) or thick: a perf comparison must say (reads of holes and GET LBA STATUS differ).
  lbp=$(timeout 20 iscsi-readcapacity16 -i "$QEMU_INITIATOR" "${URL[$target]}" 2>/dev/null | grep -o 'LBPME:[01]' || echo 'LBPME:?')
  say "# $target: ${URL[$target]} pid ${PID[$target]} $lbp (pre-written fully below)"
done

# bench TARGET ARGS... -> prints "seconds cpu%" (cpu% of the target process over the run)
bench() {
  local target=$1; shift
  local pid=${PID[$target]} t0 t1 c0 c1 out secs
  c0=$(lib cpu "$pid"); t0=$(date +%s.%N)
  # shellcheck disable=SC2068
  out=$(timeout "$RUN_TIMEOUT" qemu-img bench -f raw -t none $@ "${URL[$target]}" 2>&1) || {
    echo "qemu-img bench failed on $target: $out" >&2; echo "NaN NaN"; return 0; }
  t1=$(date +%s.%N); c1=$(lib cpu "$pid")
  secs=$(sed -n 's/^Run completed in \([0-9.]*\) seconds\./\1/p' <<<"$out")
  awk -v s="${secs:-NaN}" -v c0="$c0" -v c1="$c1" -v t0="$t0" -v t1="$t1" -v hz="$(getconf CLK_TCK)" \
    'BEGIN { printf "%s %.0f\n", s, (c1 - c0) / hz / (t1 - t0) * 100 }'
}

# Pre-write every LUN fully with 1 MiB writes (allocation, page cache), not timed.
for target in $TARGETS; do
  size_bytes=$(numfmt --from=iec "$SIZE")
  say "# pre-write $target: $(( size_bytes / 1048576 )) x 1 MiB"
  bench "$target" -w -c $(( size_bytes / 1048576 )) -d 8 -s 1M >/dev/null
done

declare -A RES CPU USIO
for c in "${ALL_CASES[@]}"; do
  IFS='|' read -r name unit count args <<<"$c"
  [[ " $CASES " == *" $name "* ]] || continue
  for rep in $(seq "$REPS"); do
    order=$TARGETS
    # ORDER=abba: every other repetition runs the targets in reverse order, so that neither always
    # runs first (4K writes to the file backstore: the first of a pair ran 10-25 % slower here,
    # whichever target it was, from the page cache writeback the previous run left).
    (( rep % 2 == 0 )) && [[ "$ORDER" == abba ]] && order=$(tr ' ' '\n' <<<"$TARGETS" | tac | tr '\n' ' ')
    for target in $order; do   # ABAB: targets alternate within each repetition
      read -r secs cpu < <(bench "$target" $args)
      # IOPS = count / s; for the 1 MiB cases count / s is also MiB/s.
      val=$(awk -v n="$count" -v s="$secs" 'BEGIN { if (s > 0) printf "%.0f", n / s; else print "NaN" }')
      RES[$name,$target]+="$val "
      CPU[$name,$target]+="$cpu "
      # Target CPU per I/O (µs): less sensitive than IOPS to other load on a shared host.
      USIO[$name,$target]+="$(awk -v n="$count" -v s="$secs" -v c="$cpu" 'BEGIN { if (s > 0) printf "%.1f", c / 100 * s / n * 1e6; else print "NaN" }') "
      say "$name rep $rep $target: ${secs}s -> $val $unit, cpu ${cpu}%"
    done
  done
done

say ""
say "## medians of $REPS runs (qemu-img bench, loopback; CPU% = target process, 100 = one core; µs/IO = its CPU time per I/O)"
hdr=$(printf '%-10s %-6s' case unit)
for target in $TARGETS; do hdr+=$(printf ' %10s %6s %7s' "$target" cpu% µs/IO); done
read -r -a TLIST <<<"$TARGETS"
# With exactly two targets, the last column is first/second (ours/tgt, ours/base).
(( ${#TLIST[@]} == 2 )) && hdr+=$(printf ' %9s' "${TLIST[0]}/${TLIST[1]}")
say "$hdr"
for c in "${ALL_CASES[@]}"; do
  IFS='|' read -r name unit _ _ <<<"$c"
  [[ " $CASES " == *" $name "* ]] || continue
  line=$(printf '%-10s %-6s' "$name" "$unit")
  declare -A MED=()
  for target in $TARGETS; do
    # shellcheck disable=SC2086
    MED[$target]=$(lib median ${RES[$name,$target]})
    # shellcheck disable=SC2086
    # shellcheck disable=SC2086
    line+=$(printf ' %10.0f %6.0f %7.1f' "${MED[$target]}" "$(lib median ${CPU[$name,$target]})" "$(lib median ${USIO[$name,$target]})")
  done
  if (( ${#TLIST[@]} == 2 )); then
    line+=$(awk -v a="${MED[${TLIST[0]}]}" -v b="${MED[${TLIST[1]}]}" 'BEGIN { if (b > 0) printf " %9.2f", a / b; else printf " %9s", "n/a" }')
  fi
  say "$line"
done
if [[ -n "$SCRAPERS" ]]; then
  stop_pid $SCRAPERS
  for target in $TARGETS; do [[ -f "$WORK/$target.scrapes" ]] && say "# $target /metrics: $(tail -1 "$WORK/$target.scrapes")"; done
  SCRAPERS=''
fi
say ""
say "log: $LOG"
