#!/usr/bin/env bash
# libiscsi iscsi-test-cu conformance harness (family ALL, one process per suite, 120 s timeout each).
#   scripts/conformance.sh [-o OUT] [-i INIT1] [-I INIT2] [-T SECS] [-s Suite,Suite] URL [URL2]
# Writes OUT.txt / OUT.tsv / OUT.summary.txt; last line: `N passed, N failed, N skipped`.
# The parsing lives in conformance.mjs (same directory).
set -euo pipefail
command -v iscsi-test-cu >/dev/null || [[ -n "${ISCSI_TEST_CU:-}" ]] || {
  echo "iscsi-test-cu not found: apt-get install libiscsi-bin (or sudo bash .ci/run)" >&2; exit 3; }
exec node "$(dirname "$0")/conformance.mjs" "$@"
