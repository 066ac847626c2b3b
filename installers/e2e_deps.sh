#!/usr/bin/env bash
# Installs what the dashboard's browser tests (tests/e2e) need: Debian's chromium, node and npm
# (Debian's, unless a node with npm is already there), and playwright-core at the version pinned
# in tests/e2e/package-lock.json, into tests/e2e/node_modules (never global). Idempotent.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

if [ "$(id -u)" -ne 0 ]; then
  SUDO=sudo
else
  SUDO=
fi
packages=()
[ -x /usr/bin/chromium ] || packages+=(chromium)
command -v node >/dev/null || packages+=(nodejs)
command -v npm >/dev/null || packages+=(npm)
if [ ${#packages[@]} -gt 0 ]; then
  echo "e2e deps: installing ${packages[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${packages[@]}"
fi

cd "$root/tests/e2e"
wanted=$(node -p 'require("./package.json").dependencies["playwright-core"]')
have=$(node -p 'try { require("./node_modules/playwright-core/package.json").version } catch { "" }')
if [ "$have" = "$wanted" ]; then
  echo "e2e deps: playwright-core $have present"
  exit 0
fi
# --ignore-scripts: playwright-core downloads no browser; the tests use /usr/bin/chromium.
npm ci --no-audit --no-fund --ignore-scripts
