#!/bin/sh
# Template-mining quality on Loghub-2k: runs `faultline-agent templates --loghub-csv` on the 8
# data sets (one miner each, default options), scores the predictions against the original
# (Zhu et al. 2019) and the corrected Loghub-2.0 (lh2) labels, prints a per-data-set table and
# the averages, and fails when they fall below the targets.
#
# Usage: tests/bench/loghub/run.sh [DATA_ROOT] [BUILD_DIR]
#   DATA_ROOT  the loghub2k folder (default: ../shared/datasets/loghub2k next to the repo)
#   BUILD_DIR  the build directory holding bin/faultline-agent (default: build)
# Prints a "skipped" line and exits 0 when the data sets are not there.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
root=${1:-$repo/../shared/datasets/loghub2k}
build=${2:-$repo/build}
agent=$build/bin/faultline-agent
evaluator=$root/../../tools/eval_loghub.py

if [ ! -d "$root" ] || [ ! -f "$evaluator" ]; then
  echo "skipped: no Loghub data sets at $root (or no $evaluator)"
  exit 0
fi
if [ ! -x "$agent" ]; then
  echo "error: $agent not built (cmake --build $build --target faultline_agent)" >&2
  exit 1
fi

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT INT TERM
for d in Android Apache BGL HDFS Hadoop Linux OpenStack Spark; do
  "$agent" templates --loghub-csv "$root/$d/${d}_2k.log_structured.csv" \
    --out "$out/$d.csv" >/dev/null
done
exec python3 "$here/score.py" "$root" "$out" "$evaluator"
