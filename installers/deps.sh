#!/usr/bin/env bash
# Installs every Debian package that Faultline's build, tests and services need.
# Idempotent: packages already present are skipped by apt.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config git clang clang-format clang-tidy libclang-rt-14-dev
  python3 procps psmisc
  # product libraries
  libuv1-dev libcurl4-openssl-dev libzstd-dev libmsgpack-dev libsqlite3-dev libpq-dev
  libcli11-dev doctest-dev libhttp-parser-dev libsodium-dev libtomlplusplus-dev nlohmann-json3-dev
  libssl-dev zlib1g-dev zstd sqlite3 libre2-dev
  # the aggregator's allocator (docs/dependencies.md; not linked in sanitizer builds)
  libjemalloc-dev
  # time zones for recurring maintenance windows (date/tz.h over the system tzdata)
  libhowardhinnant-date-dev tzdata
  # tests: the TLS integration test makes a throwaway CA with the openssl command
  openssl
  # benchmarks: HTTP load for tests/bench/api_get_bench.py and webhook_bench.py
  wrk
  # tests: a real webhook sender (tests/integration/test_alertmanager_webhook.py)
  prometheus-alertmanager
  # PostgreSQL 15: the server for the throwaway test cluster (installers/pg_cluster.sh) and psql
  postgresql-15 postgresql-client-15
  # NATS joins this list with the issue that starts it in .ci/run.
)

if [ "$(id -u)" -ne 0 ]; then
  SUDO=sudo
else
  SUDO=
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#packages[@]} packages present"
  exit 0
fi

echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# The tests run their own throwaway cluster; do not let the package create and start a default
# one on port 5432 (Debian's postgresql-common reads this before creating "main").
if [[ " ${missing[*]} " == *" postgresql-15 "* ]] && [ ! -e /etc/postgresql-common/createcluster.conf ]; then
  $SUDO mkdir -p /etc/postgresql-common/createcluster.d
  echo "create_main_cluster = false" |
    $SUDO tee /etc/postgresql-common/createcluster.d/50-faultline.conf >/dev/null
fi
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
