#!/usr/bin/env bash
# Sets up a fresh machine and runs the whole test suite: lint, types, then pytest.
# Usage: scripts/test.sh [pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
# The Kubernetes control plane for the operator tests is built from the Go module proxy
# into a cache outside the repository, only when the cache lacks it.
scripts/build-controlplane.sh

echo "test: ruff" >&2
.venv/bin/ruff check .
echo "test: mypy" >&2
.venv/bin/mypy
echo "test: pytest" >&2
exec .venv/bin/python -m pytest "$@"
