#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan+UBSan) into build-fuzz/ and runs each one.
# Usage: installers/fuzz.sh [SECONDS_PER_TARGET]   (default 60; CI runs a short smoke)
# FAULTLINE_FUZZ_BUILD=DIR reuses a tree already configured with FAULTLINE_FUZZ=ON (CI passes the
# sanitizer tree of `installers/test.sh --sanitize`); otherwise build-fuzz/ is configured here.
# Seeds: tests/fuzz/corpus/<name>/ and tests/fuzz/regressions/<name>/. New crashes are written to
# build-fuzz/crashes/; a crash fails the run. Commit the input to tests/fuzz/regressions/<name>/,
# where the unit tests replay it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-60}
build=${FAULTLINE_FUZZ_BUILD:-"$root/build-fuzz"}
if grep -q '^FAULTLINE_FUZZ:BOOL=ON' "$build/CMakeCache.txt" 2>/dev/null; then
  echo "fuzz: reusing $build"
else
  CC=clang CXX=clang++ cmake -S "$root" -B "$build" -G Ninja -DFAULTLINE_FUZZ=ON \
    -DFAULTLINE_TESTS=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi

# target binary -> corpus name
declare -A targets=(
  [fuzz_batch_decode]=batch_decode
  [fuzz_config]=config
  [fuzz_http_request]=http_request
  [fuzz_enroll_request]=enroll_request
  [fuzz_jwt_verify]=jwt_verify
  [fuzz_redact]=redact
  [fuzz_logparse_auto]=logparse_auto
  [fuzz_logparse_json]=logparse_json
  [fuzz_logparse_logfmt]=logparse_logfmt
  [fuzz_logparse_syslog]=logparse_syslog
  [fuzz_logparse_weblog]=logparse_weblog
  [fuzz_logparse_container]=logparse_container
  [fuzz_logparse_regex]=logparse_regex
  [fuzz_logparse_timestamp]=logparse_timestamp
  [fuzz_logparse_multiline]=logparse_multiline
  [fuzz_template_miner]=template_miner
  [fuzz_webhook]=webhook
  [fuzz_upload_decode]=upload_decode
  [fuzz_generic_mapping]=generic_mapping
  [fuzz_noise_rule]=noise_rule
  [fuzz_correlation_rules]=correlation_rules
  [fuzz_graph_import]=graph_import
  [fuzz_otlp_spans]=otlp_spans
  [fuzz_notify]=notify
  [fuzz_ai_answer]=ai_answer
)
ninja -C "$build" -j"$(nproc)" "${!targets[@]}"
mkdir -p "$build/crashes"
for target in "${!targets[@]}"; do
  name=${targets[$target]}
  work="$build/corpus/$name"
  mkdir -p "$work"
  for seed in "$root/tests/fuzz/corpus/$name" "$root/tests/fuzz/regressions/$name"; do
    if [ -d "$seed" ]; then cp -n "$seed"/* "$work"/ 2>/dev/null || true; fi
  done
  echo "== $target for ${seconds}s"
  "$build/bin/$target" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
    -artifact_prefix="$build/crashes/$name-" -print_final_stats=1 "$work" 2>&1 |
    grep -E "^(stat::number_of_executed_units|==[0-9]+==ERROR|SUMMARY)" || true
  if ls "$build/crashes/$name-"* >/dev/null 2>&1; then
    echo "fuzz: $target found a crash: $(ls "$build/crashes/$name-"*)" >&2
    exit 1
  fi
done
echo "fuzz: no crashes"
