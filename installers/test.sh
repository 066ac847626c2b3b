#!/usr/bin/env bash
# Installs what the tests need, builds, and runs every test (unit + integration).
# Usage: installers/test.sh [--sanitize]   (--sanitize: address,undefined build in build-asan/)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/installers/deps.sh"
"$root/installers/e2e_deps.sh"  # chromium, node, playwright-core (tests/e2e)

build="$root/build"
extra=()
if [ "${1:-}" = "--sanitize" ]; then
  # clang, not g++: at -O0 with the sanitizers it compiles about twice as fast, and the same tree
  # also builds the libFuzzer targets (FAULTLINE_FUZZ: coverage instrumentation everywhere), so
  # installers/fuzz.sh can reuse it (FAULTLINE_FUZZ_BUILD=build-asan) instead of a third build.
  build="$root/build-asan"
  export CC=clang CXX=clang++
  extra=(-DFAULTLINE_SANITIZE=ON -DFAULTLINE_FUZZ=ON -DCMAKE_BUILD_TYPE=Debug)
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
fi
"$root/installers/build.sh" "$build" "${extra[@]}"

# PostgreSQL store tests (and the PostgreSQL integration test and bench) run against a throwaway
# cluster that lives only as long as this script.
export FAULTLINE_TEST_PG_URL
FAULTLINE_TEST_PG_URL=$("$root/installers/pg_cluster.sh" start)
trap '"$root/installers/pg_cluster.sh" stop' EXIT
export FAULTLINE_TEST_PG_RESTART="$root/installers/pg_cluster.sh restart"

cd "$build"
# One test at a time: several tests race real processes and rotations against each other,
# and on 2 cores running them side by side only adds noise (the whole suite takes ~1 minute).
ctest --output-on-failure --timeout 900

# The benchmarks run small here, only to see that they work (figures: docs/benchmarks.md).
if [ "${1:-}" != "--sanitize" ]; then
  python3 "$root/tests/bench/ship_bench.py" --lines 20000 --idle-seconds 1 --bin-dir "$build"
  "$build/bin/ingest_pg_bench" 20 2 500
  "$build/bin/incident_latency_bench" --rate 1000 --seconds 2 --tenants 2 --services 20
  python3 "$root/tests/bench/api_get_bench.py" --agents 20 --seconds 2 --connections 4 \
    --bin-dir "$build"
  python3 "$root/tests/bench/webhook_bench.py" --seconds 2 --connections 4 --bin-dir "$build"
  python3 "$root/tests/bench/event_stream_bench.py" --seconds 1 --streams 5 --connections 4 \
    --bin-dir "$build"
  FAULTLINE_BIN_DIR="$build/bin" "$root/tests/bench/nezha/run.sh" \
    "$root/../shared/datasets/nezha-trainticket" 2023-01-29 --small 9
  python3 "$root/tests/bench/dashboard_first_screen.py" --events 2000 --runs 1 --bin-dir "$build"
fi
