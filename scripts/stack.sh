#!/usr/bin/env bash
# Sets up a fresh machine and runs the local stack (Redis, ping server, sweeper and notifier)
# with a sample check, until Ctrl-C. Usage: scripts/stack.sh [--port 8000] [--dir DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/hb dev stack "$@"
