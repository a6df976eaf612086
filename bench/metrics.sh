#!/usr/bin/env bash
# The Prometheus exporter's cost: the same build with the exporter on and scraped every
# SCRAPE_MS (default 1000 ms, fifteen times Prometheus's default rate) vs prometheus_exporter =
# false, alternating in one run (bench/run.sh targets "ours nometrics", ORDER=abba: each runs
# first in half the repetitions), 4K QD32 reads and writes. The ours/nometrics column is the
# ratio of the medians (1.00 = no cost); µs/IO is each daemon's CPU time per I/O.
# The data-path counters run in both (they are not switched off with the exporter): their cost
# is a before/after run against a build without them, TARGETS="ours base" BASE_DIST=... bench/run.sh.
#
# Env: REPS (8), CASES ("rr4k-qd32 rw4k-qd32"), SCRAPE_MS (1000), and bench/run.sh's.
set -euo pipefail
cd "$(dirname "$0")/.."
export TARGETS="ours nometrics" REPS="${REPS:-8}" CASES="${CASES:-rr4k-qd32 rw4k-qd32}" SCRAPE_MS="${SCRAPE_MS:-1000}" ORDER="${ORDER:-abba}"
exec bash bench/run.sh
