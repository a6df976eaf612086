#!/usr/bin/env bash
# The seeds' gwcli session (docs.ceph.com "Configuring the iSCSI target using the command line
# interface") as one-shot gwcli commands: target, gateway, disk, client with CHAP, disk mapped.
# Each command exits 0 on success; the script stops at the first failure with gwcli's message.
#
#   scripts/gwcli-seeds-flow.sh [gwcli options...]     e.g. --api http://127.0.0.1:5000
#
# Environment: GWCLI (default: gwcli on PATH, else this checkout's dist), GATEWAY (default:
# this host's FQDN), GATEWAY_IP (127.0.0.1), TARGET, CLIENT, CHAP_USER, CHAP_PASSWORD, DISK, SIZE.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
if [[ -n "${GWCLI:-}" ]]; then read -r -a gwcli <<<"$GWCLI"
elif command -v gwcli >/dev/null; then gwcli=(gwcli)
else gwcli=(node "$here/dist/src/cli/main.js"); fi
gw() { "${gwcli[@]}" "$@"; }

TARGET=${TARGET:-iqn.2003-01.com.redhat.iscsi-gw:iscsi-igw}
GATEWAY=${GATEWAY:-$(hostname -f)}
GATEWAY_IP=${GATEWAY_IP:-127.0.0.1}
CLIENT=${CLIENT:-iqn.1994-05.com.redhat:rh7-client}
CHAP_USER=${CHAP_USER:-myiscsiusername}
CHAP_PASSWORD=${CHAP_PASSWORD:-myiscsipassw0rd}
DISK=${DISK:-rbd/disk_1}
SIZE=${SIZE:-1G}

gw "$@" /iscsi-targets create "$TARGET"
gw "$@" "/iscsi-targets/$TARGET/gateways" create "$GATEWAY" "$GATEWAY_IP" skipchecks=true
gw "$@" /disks create "pool=${DISK%%/*}" "image=${DISK#*/}" "size=$SIZE"
gw "$@" "/iscsi-targets/$TARGET/hosts" create "$CLIENT"
gw "$@" "/iscsi-targets/$TARGET/hosts/$CLIENT" auth "username=$CHAP_USER" "password=$CHAP_PASSWORD"
gw "$@" "/iscsi-targets/$TARGET/hosts/$CLIENT" disk add "$DISK"
gw "$@" ls /
