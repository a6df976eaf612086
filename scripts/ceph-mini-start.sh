#!/usr/bin/env bash
# scripts/ceph-mini-start.sh DIR
#
# A throwaway single-node Ceph (Debian 12: Ceph 16) for the gateway's tests and for trying the
# gateway on one machine: 1 mon, 1 OSD (memstore by default), optionally 1 mgr, cephx on, bound
# to 127.0.0.1 only, every file under DIR. Creates the cluster on the first run, restarts it on
# later runs (a running cluster is left alone). Prints the path of DIR/ceph.conf on stdout once
# a rados put/stat/rm on the pool works; progress and errors go to stderr.
#
#   conf=$(scripts/ceph-mini-start.sh /tmp/ceph)   # then: ceph --conf "$conf" -s
#   scripts/ceph-mini-stop.sh /tmp/ceph            # stops exactly this cluster's daemons
#
# Environment:
#   CEPH_MINI_STORE=memstore|bluestore  OSD object store (memstore: RAM, saved to DIR on a clean stop)
#   CEPH_MINI_STORE_BYTES=N             memstore capacity / bluestore file size (8 GiB / 10 GiB)
#   CEPH_MINI_MGR=1|0                   run a ceph-mgr (needed for `ceph df` usage numbers; +300 MB RSS)
#   CEPH_MINI_PORT=N                    mon msgr2 port N, msgr1 N+1 (default: 3300/6789 if free, else a free pair
#                                       in the 2000 ports below the ephemeral range)
#   CEPH_MINI_POOL=rbd                  RBD pool created with the cluster
#   CEPH_MINI_PG_NUM=8                  its PG count
#   CEPH_MINI_TIMEOUT=120               seconds to wait for a usable cluster
#   CEPH_MINI_FRESH=1                   wipe the cluster in DIR (one this script made) and create a new one
#
# Things learnt the hard way (see docs/testing.md "Ceph"): memstore needs `osd fast shutdown =
# false` or a SIGTERM loses every object; memstore counts logical object sizes, so a small
# capacity fills up and then client writes hang without an error; the ceph CLI waits forever on
# a dead mon without --connect-timeout; ceph-authtool reads CEPH_CONF, hence -c /dev/null.
set -euo pipefail

me=ceph-mini
say() { printf '%s: %s\n' "$me" "$*" >&2; }
fail() { printf '%s: error: %s\n' "$me" "$*" >&2; exit 1; }

if [ $# -ne 1 ] || [ "$1" = -h ] || [ "$1" = --help ]; then
  sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
fi

store=${CEPH_MINI_STORE:-memstore}
with_mgr=${CEPH_MINI_MGR:-1}
pool=${CEPH_MINI_POOL:-rbd}
pgs=${CEPH_MINI_PG_NUM:-8}
limit=${CEPH_MINI_TIMEOUT:-120}
case "$store" in
  memstore) bytes=${CEPH_MINI_STORE_BYTES:-8589934592} ;;
  bluestore) bytes=${CEPH_MINI_STORE_BYTES:-10737418240} ;;
  *) fail "CEPH_MINI_STORE must be memstore or bluestore (got '$store')" ;;
esac
for v in "$limit" "$bytes" "$pgs"; do [[ "$v" =~ ^[0-9]+$ ]] || fail "not a number: '$v'"; done
[[ "$pool" =~ ^[A-Za-z0-9_.-]+$ ]] || fail "CEPH_MINI_POOL: invalid pool name '$pool'"

tools=(ceph ceph-mon ceph-osd ceph-authtool monmaptool rados rbd uuidgen timeout)
[ "$with_mgr" = 1 ] && tools+=(ceph-mgr)
for t in "${tools[@]}"; do
  command -v "$t" >/dev/null 2>&1 ||
    fail "'$t' is missing; install Ceph: apt-get install -y --no-install-recommends ceph-mon ceph-osd ceph-mgr ceph-common"
done

mkdir -p -- "$1" || fail "cannot create '$1'"
dir=$(cd -- "$1" && pwd -P)
[[ "$dir" =~ ^[A-Za-z0-9_./+-]+$ ]] || fail "DIR may only hold letters, digits and _./+- (got '$dir')"
conf=$dir/ceph.conf
marker=$dir/.ceph-mini
unset CEPH_CONF CEPH_ARGS
t0=$(date +%s%N)
deadline=$(( $(date +%s) + limit ))
launched=()

ceph_() { timeout 30 ceph --conf "$conf" --connect-timeout 10 "$@"; }

# The pid in pidfile $1 if it is one of this cluster's daemons (its command line names $conf).
ours() {
  local pid
  [ -s "$1" ] || return 1
  pid=$(<"$1")
  [[ "$pid" =~ ^[0-9]+$ ]] && [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "--conf $conf " || return 1
  echo "$pid"
}

until_ok() { # what cmd...
  local what=$1 f
  shift
  while ! "$@" >/dev/null 2>&1; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      for f in "$dir"/log/*.log; do [ -f "$f" ] && { echo "--- $f" >&2; tail -n 5 "$f" >&2; }; done
      fail "no $what after ${limit}s (logs in $dir/log)"
    fi
    sleep 0.3
  done
}

in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

choose_ports() {
  local p
  if [ -n "${CEPH_MINI_PORT:-}" ]; then
    [[ "$CEPH_MINI_PORT" =~ ^[0-9]+$ ]] || fail "CEPH_MINI_PORT must be a number"
    v2=$CEPH_MINI_PORT v1=$((CEPH_MINI_PORT + 1))
    ! in_use "$v2" && ! in_use "$v1" || fail "port $v2 or $v1 is in use"
    return
  fi
  if ! in_use 3300 && ! in_use 6789; then v2=3300 v1=6789; return; fi
  # Below the ephemeral range: a port there can be some connection's local end (TIME-WAIT),
  # which a connect probe does not see but which makes the mon's bind fail.
  local low
  low=$(awk '{print $1}' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
  [[ "$low" =~ ^[0-9]+$ ]] && ((low > 12000)) || low=32768
  for ((p = low - 2000; p < low - 1; p += 2)); do
    if ! in_use "$p" && ! in_use $((p + 1)); then v2=$p v1=$((p + 1)); return; fi
  done
  fail "no free port pair for the mon (set CEPH_MINI_PORT)"
}

launch() { # type id
  local pf=$dir/run/$1.$2.pid i
  if ours "$pf" >/dev/null; then return 0; fi
  rm -f -- "$pf"
  "ceph-$1" --conf "$conf" -i "$2" >>"$dir/log/$1.$2.out" 2>&1 ||
    { tail -n 20 "$dir/log/$1.$2.out" >&2; fail "ceph-$1 -i $2 did not start (see $dir/log)"; }
  for ((i = 0; i < 100; i++)); do ours "$pf" >/dev/null && break; sleep 0.1; done
  ours "$pf" >/dev/null || fail "ceph-$1 -i $2 exited at once (see $dir/log/$1.$2.log)"
  launched+=("$(<"$pf")")
  say "$1.$2 running (pid $(<"$pf"))"
}

have_quorum() { ceph_ mon stat; }
mgr_up() { ceph_ mgr stat | grep -q '"available": true'; }
osd_up() { ceph_ osd stat -f json | grep -q '"num_up_osds":1'; }
pool_io() {
  local o=probe.$$
  timeout 15 rados --conf "$conf" -p "$pool" put "$o" "$conf" &&
    timeout 15 rados --conf "$conf" -p "$pool" stat "$o" &&
    timeout 15 rados --conf "$conf" -p "$pool" rm "$o"
}

make_pool() {
  ceph_ osd pool create "$pool" "$pgs" "$pgs" >/dev/null 2>&1 || fail "cannot create pool $pool"
  timeout 60 rbd --conf "$conf" pool init "$pool" || fail "rbd pool init $pool failed"
}

write_conf() {
  cat >"$conf" <<EOF
# written by ceph-mini-start.sh: a one-node test cluster, everything under $dir
[global]
fsid = $1
mon host = [v2:127.0.0.1:$v2,v1:127.0.0.1:$v1]
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
auth allow insecure global id reclaim = false
ms bind ipv4 = true
ms bind ipv6 = false
run dir = $dir/run
crash dir = $dir/crash
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = $pgs
osd pool default pgp num = $pgs
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon data avail warn = 1
mon data avail crit = 0
paxos propose interval = 0.1
mon mgr mkfs grace = 315360000

[client]
keyring = $dir/keyring

[mon]
mon data = $dir/mon/\$cluster-\$id
pid file = $dir/run/\$name.pid
log file = $dir/log/\$name.log

[mgr]
mgr data = $dir/mgr/\$cluster-\$id
pid file = $dir/run/\$name.pid
log file = $dir/log/\$name.log
public addr = 127.0.0.1

[osd]
osd data = $dir/osd/\$cluster-\$id
pid file = $dir/run/\$name.pid
log file = $dir/log/\$name.log
public addr = 127.0.0.1
cluster addr = 127.0.0.1
osd objectstore = $store
EOF
  if [ "$store" = memstore ]; then
    printf '%s\n' "memstore device bytes = $bytes" 'memstore page set = true' 'memstore page size = 4096' \
      'osd fast shutdown = false' >>"$conf"
  else
    printf '%s\n' 'bluestore block create = true' "bluestore block size = $bytes" \
      'bluestore fsck on mount = false' 'bluestore fsck on mkfs = false' 'osd memory target = 1073741824' >>"$conf"
  fi
}

create() {
  local fsid uuid key id
  fsid=$(uuidgen)
  choose_ports
  mkdir -p "$dir"/{run,log,crash,mon/ceph-a,osd/ceph-0}
  echo "made by scripts/ceph-mini-start.sh; ceph-mini-stop.sh and CEPH_MINI_FRESH=1 act only where this file is" >"$marker"
  write_conf "$fsid"
  say "new cluster $fsid in $dir (mon 127.0.0.1:$v2, $store, mgr=$with_mgr)"
  ceph-authtool -c /dev/null --create-keyring "$dir/mon.keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
  ceph-authtool -c /dev/null --create-keyring "$dir/keyring" --gen-key -n client.admin \
    --cap mon 'allow *' --cap osd 'allow *' --cap mds 'allow *' --cap mgr 'allow *' >/dev/null
  ceph-authtool -c /dev/null "$dir/mon.keyring" --import-keyring "$dir/keyring" >/dev/null
  monmaptool -c /dev/null --create --addv a "[v2:127.0.0.1:$v2,v1:127.0.0.1:$v1]" --fsid "$fsid" "$dir/monmap" >/dev/null
  ceph-mon --conf "$conf" --mkfs -i a --monmap "$dir/monmap" --keyring "$dir/mon.keyring" >>"$dir/log/mon.a.out" 2>&1 ||
    fail "ceph-mon --mkfs failed (see $dir/log/mon.a.out)"
  launch mon a
  until_ok "mon quorum" have_quorum
  if [ "$with_mgr" = 1 ]; then
    mkdir -p "$dir/mgr/ceph-x"
    ceph_ auth get-or-create mgr.x mon 'allow profile mgr' osd 'allow *' mds 'allow *' -o "$dir/mgr/ceph-x/keyring" >/dev/null 2>&1 ||
      fail "cannot create the mgr.x key"
    launch mgr x
  fi
  uuid=$(uuidgen)
  key=$(ceph-authtool -c /dev/null --gen-print-key)
  id=$(printf '{"cephx_secret": "%s"}' "$key" | ceph_ osd new "$uuid" -i - 2>>"$dir/log/osd.0.out") || fail "ceph osd new failed"
  [ "$id" = 0 ] || fail "expected osd id 0, got '$id'"
  ceph-osd --conf "$conf" -i 0 --mkfs --osd-uuid "$uuid" --key "$key" >>"$dir/log/osd.0.out" 2>&1 ||
    fail "ceph-osd --mkfs failed (see $dir/log/osd.0.out)"
  [ -s "$dir/osd/ceph-0/keyring" ] ||
    ceph-authtool -c /dev/null --create-keyring "$dir/osd/ceph-0/keyring" --name osd.0 --add-key "$key" >/dev/null
  launch osd 0
  until_ok "osd.0 up" osd_up
  make_pool
  echo "created $(date -u +%FT%TZ) store=$store mgr=$with_mgr" >>"$marker"
}

restart() {
  grep -q '^osd objectstore = memstore' "$conf" && store=memstore || store=bluestore
  [ -d "$dir/mgr/ceph-x" ] && with_mgr=1 || with_mgr=0
  [ -f "$dir/osd/ceph-0/keyring" ] || fail "$dir holds a half-made cluster; rerun with CEPH_MINI_FRESH=1"
  launch mon a
  until_ok "mon quorum" have_quorum
  [ "$with_mgr" = 1 ] && launch mgr x
  launch osd 0
  until_ok "osd.0 up" osd_up
  ceph_ osd pool ls | grep -qx -- "$pool" || make_pool
}

cleanup() { # on failure: stop what this run started
  local rc=$? pid i
  [ "$rc" -eq 0 ] || [ ${#launched[@]} -eq 0 ] && return "$rc"
  say "stopping the daemons this run started (${launched[*]})"
  for pid in "${launched[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${launched[@]}"; do
    for ((i = 0; i < 100; i++)); do
      [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || echo Z)" = Z ] && break
      sleep 0.2
    done
    kill -KILL "$pid" 2>/dev/null || true
  done
  return "$rc"
}
trap cleanup EXIT

# A creation that never finished (no "created" line) is redone.
fresh=${CEPH_MINI_FRESH:-0}
if [ -f "$marker" ] && ! grep -q '^created ' "$marker"; then fresh=1; fi
if [ "$fresh" = 1 ] && [ -e "$conf" -o -e "$marker" ]; then
  [ -f "$marker" ] || fail "$dir was not made by ceph-mini-start.sh; not wiping it"
  "$(dirname -- "$0")/ceph-mini-stop.sh" "$dir" >&2 || true
  rm -rf -- "${dir:?}"/* "$marker"
fi

if [ -e "$conf" ]; then
  [ -f "$marker" ] || fail "$conf was not written by ceph-mini-start.sh; use an empty directory"
  restart
else
  [ -z "$(ls -A -- "$dir")" ] || fail "$dir is neither empty nor a ceph-mini cluster"
  create
fi
[ "$with_mgr" = 1 ] && until_ok "active mgr" mgr_up
until_ok "I/O on pool $pool" pool_io
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
say "usable after ${ms} ms"
echo "$conf"
