#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine: set-up, services, lint, tests.
# Extra arguments go to pytest. PostgreSQL: $JAYWATCH_TEST_PG_URL if set, else a
# throwaway cluster of its own (scripts/services.sh), stopped when this script ends.
set -euo pipefail
cd "$(dirname "$0")/.."

# A no-op (no network needed) when set-up is complete: scripts/check-fresh.sh relies on it.
scripts/setup.sh

if [[ -z "${JAYWATCH_TEST_PG_URL:-}" ]]; then
  # Our own directory for the throwaway cluster. The lock (fd 9, held as long as this
  # script runs) tells other runs' services.sh this cluster is in use; it is taken under a
  # temporary name and renamed, so no one ever sees it unlocked.
  run_dir=$(mktemp -d "${TMPDIR:-/tmp}/jaywatch-pg.XXXXXX")
  : >"$run_dir/.jaywatch-pg"
  exec 9>"$run_dir/lock.new"
  flock 9
  mv "$run_dir/lock.new" "$run_dir/lock"
  cleanup() {
    local rc=$?
    scripts/services.sh stop "$run_dir" 9>&- || true
    exit "$rc"
  }
  trap cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  # 9>&-: the server must not inherit the lock, or it would outlive this script's run.
  eval "$(scripts/services.sh start "$run_dir" 9>&-)"
else
  eval "$(scripts/services.sh start)"
fi

.venv/bin/ruff check .
.venv/bin/ruff format --check . >/dev/null || { .venv/bin/ruff format --diff . | head -50; exit 1; }
# Not exec: the trap above stops the throwaway cluster when pytest ends.
.venv/bin/pytest "$@"
