#!/usr/bin/env bash
# The main job on a fresh Debian machine: set up, then run the whole system on the sample
# media — mosquitto, central (SQLite), the operator console, a display screen, the
# log-only SMS sender and the edge gateway on the sample scenes. Prints the URLs and the
# demo logins. `scripts/demo.sh --headless` runs to the end and prints a summary.
set -euo pipefail
cd "$(dirname "$0")/.."
JAYWATCH_BROWSER=0 scripts/setup.sh
exec .venv/bin/jaywatch demo "$@"
