#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine: set-up, services, lint, tests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
eval "$(scripts/services.sh)"
.venv/bin/ruff check .
.venv/bin/ruff format --check . >/dev/null || { .venv/bin/ruff format --diff . | head -50; exit 1; }
exec .venv/bin/pytest "$@"
