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
  # tests: the TLS integration test makes a throwaway CA with the openssl command
  openssl
  # PostgreSQL and NATS join this list with the issues that start them in .ci/run.
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
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
