#!/usr/bin/env bash
# Install the Debian packages the test suite needs, only when they are missing.
#   postgresql: the tests start a real server (initdb/pg_ctl) for the PostgreSQL storage tests.
#   chromium:   the dashboard test drives Debian's headless Chromium with Playwright (no browser download).
set -euo pipefail

missing=()
compgen -G "/usr/lib/postgresql/*/bin/pg_ctl" >/dev/null || command -v pg_ctl >/dev/null || missing+=(postgresql)
command -v chromium >/dev/null || missing+=(chromium)

if ((${#missing[@]} == 0)); then
  exit 0
fi
echo "installing Debian packages: ${missing[*]}"
sudo=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "error: need root or sudo to install ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
