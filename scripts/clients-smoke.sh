#!/usr/bin/env bash
# Smoke test of any iSCSI target with real user-space initiators (libiscsi tools, qemu):
#
#   scripts/clients-smoke.sh [-i INITIATOR] [--dataloss] iscsi://[user%pass@]host[:port]/<iqn>/<lun>
#
# Read-only by default: discovery, login + LUN listing, INQUIRY (+ VPD 0x00/0x80/0x83), READ
# CAPACITY (16), qemu-img info, a qemu-io read. With --dataloss it also writes patterns at a few
# offsets (aligned, unaligned) and reads them back: this DESTROYS data on the LUN.
# Every command runs under `timeout`; the exit code is the number of failed checks.
set -uo pipefail

initiator='' dataloss=0 url=''
while (( $# > 0 )); do
  case "$1" in
    -i) initiator=${2:-}; shift 2 ;;
    --dataloss) dataloss=1; shift ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) url=$1; shift ;;
  esac
done
[[ "$url" =~ ^iscsi://([^@/]*@)?([^/]+)/([^/]+)/([0-9]+)$ ]] || { echo "usage: $0 [-i INITIATOR] [--dataloss] iscsi://[user%pass@]host[:port]/<iqn>/<lun>" >&2; exit 2; }
cred=${BASH_REMATCH[1]} portal=${BASH_REMATCH[2]} iqn=${BASH_REMATCH[3]} lun=${BASH_REMATCH[4]}
for t in iscsi-ls iscsi-inq iscsi-readcapacity16 qemu-img qemu-io; do
  command -v "$t" >/dev/null || { echo "missing $t (apt-get install libiscsi-bin qemu-utils qemu-block-extra)" >&2; exit 2; }
done
ini=(); [[ -n "$initiator" ]] && ini=(-i "$initiator")

# qemu options: one-way CHAP and the initiator name go in --image-opts.
user='' pass=''
if [[ -n "$cred" ]]; then cred=${cred%@}; user=${cred%%\%*}; pass=${cred#*%}; fi
host=${portal}
qopts="driver=iscsi,transport=tcp,portal=${host},target=${iqn},lun=${lun}"
[[ -n "$initiator" ]] && qopts+=",initiator-name=${initiator}"
[[ -n "$user" ]] && qopts+=",user=${user},password=${pass}"

failed=0
check() { # name, command...
  local name=$1; shift
  local out
  if out=$(timeout 60 "$@" 2>&1); then
    printf 'ok    %s\n' "$name"
  else
    printf 'FAIL  %s\n' "$name"; sed 's/^/      /' <<<"${out//$pass/***}" | head -5
    failed=$(( failed + 1 ))
  fi
}

check "discovery (SendTargets)" iscsi-ls "${ini[@]}" "iscsi://${cred:+$cred@}${portal}"
check "login, LUN list" iscsi-ls -s "${ini[@]}" "iscsi://${cred:+$cred@}${portal}"
check "INQUIRY" iscsi-inq "${ini[@]}" "$url"
for page in 0 128 131; do check "INQUIRY VPD $page" iscsi-inq "${ini[@]}" -e 1 -c "$page" "$url"; done
check "READ CAPACITY (16)" iscsi-readcapacity16 "${ini[@]}" "$url"
check "qemu-img info" qemu-img info --image-opts "$qopts"
check "qemu-io read" qemu-io --image-opts "$qopts" -c 'read 0 64k'
if (( dataloss )); then
  check "qemu-io pattern write" qemu-io --image-opts "$qopts" -c 'write -P 0xa5 0 1M' -c 'write -P 0x5a 12345 777' -c 'write -P 0x3c 4194303 4097'
  check "qemu-io pattern read-back" qemu-io --image-opts "$qopts" -c 'read -P 0xa5 0 12345' -c 'read -P 0x5a 12345 777' \
    -c 'read -P 0xa5 13122 1035454' -c 'read -P 0x3c 4194303 4097'
fi
echo "$failed failed"
exit "$failed"
