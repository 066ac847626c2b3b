#!/bin/sh
# Nezha/TrainTicket RCA benchmark: feeds one day of fault injections (container logs, per-pod
# metric alerts, the service graph from traces) to a throwaway aggregator on SQLite and scores
# the RCA ranking of each fault's incident. Last line: "AS@1=... AS@3=... AS@5=..." (without
# --similar or --calibration, which print their own summaries after it).
#
# Usage: tests/bench/nezha/run.sh DATA_ROOT DAY [--small N] [--similar] [--calibration]
#   DATA_ROOT  a folder with the nezha-trainticket layout
#              (e.g. ../shared/datasets/nezha-trainticket)
#   DAY        e.g. 2023-01-29
#   --small N  (or NEZHA_SMALL=N) only the first N log windows: what CI runs
#   more options of nezha_bench.py pass through: --similar (retrieval), --calibration (the
#   confidence of the runbook answers), --dump DIR
# Binaries come from FAULTLINE_BIN_DIR (default: build/bin in the repo); nothing is built.
# Gives up after NEZHA_TIMEOUT_SECONDS (default 1200); the aggregator and its temp dir are
# removed on every exit path. Prints a "skipped" line and exits 0 when DATA_ROOT/rca_data/DAY
# is absent.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
if [ $# -lt 2 ]; then
  echo "usage: $0 DATA_ROOT DAY [--small N]" >&2
  exit 2
fi
export FAULTLINE_BIN_DIR="${FAULTLINE_BIN_DIR:-$repo/build/bin}"
export PYTHONDONTWRITEBYTECODE=1
bin=$FAULTLINE_BIN_DIR
if [ ! -x "$bin/faultline-aggregator" ] && [ ! -x "$bin/bin/faultline-aggregator" ]; then
  echo "error: no faultline-aggregator in $FAULTLINE_BIN_DIR (set FAULTLINE_BIN_DIR)" >&2
  exit 1
fi
limit=${NEZHA_TIMEOUT_SECONDS:-1200}
# The Python side stops itself at the limit (and kills the aggregator); timeout is the backstop.
exec timeout -k 10 $((limit + 30)) python3 "$here/nezha_bench.py" "$@"
