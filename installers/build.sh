#!/usr/bin/env bash
# Configures and builds Faultline. Usage: installers/build.sh [BUILD_DIR] [extra cmake args...]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-"$root/build"}
shift || true
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFAULTLINE_WERROR=ON "$@" >/dev/null
ninja -C "$build" -j"$(nproc)"
