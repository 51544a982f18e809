#!/usr/bin/env bash
# Installs what the project needs on a fresh Debian machine: a Python virtualenv with the
# project and its test extras, and redis-server and redis-sentinel (through apt, only when
# missing).
# Idempotent: a second run only checks. Usage: scripts/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${HB_VENV:-.venv}"

# redis-sentinel: the Sentinel failover tests. The Debian packages start system instances;
# the project starts its own on free ports, so those are stopped.
for package in redis-server redis-sentinel; do
  if ! command -v "$package" >/dev/null 2>&1; then
    echo "setup: installing $package with apt" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "$package" >/dev/null
    (service "$package" stop || systemctl stop "$package" || true) >/dev/null 2>&1
  fi
done

if ! command -v chromium >/dev/null 2>&1; then
  echo "setup: installing chromium with apt (browser tests of the dashboard)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium >/dev/null
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating virtualenv $VENV" >&2
  python3 -m venv "$VENV"
fi
stamp="$VENV/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "setup: installing Python packages into $VENV" >&2
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -e ".[test]"
  # The component folders share names with their packages (pingserver/pingserver); listing
  # them on sys.path makes the packages win over the folders from any working directory.
  site=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  for d in pingserver operator cli controlplane; do echo "$PWD/$d"; done > "$site/heartbeat-src.pth"
  rm -f "$VENV"/.installed-*
  touch "$stamp"
fi
