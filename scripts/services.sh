#!/usr/bin/env bash
# Make sure PostgreSQL is reachable for the tests; print the admin URL to use.
# Tests start their own mosquitto brokers (own ports, auth/ACL/TLS) from the binary.
# Usage: eval "$(scripts/services.sh)"
set -euo pipefail

pg_ok() { pg_isready -q -h 127.0.0.1 -p "$1" 2>/dev/null; }

if [[ -n "${JAYWATCH_TEST_PG_URL:-}" ]]; then
  echo "export JAYWATCH_TEST_PG_URL='$JAYWATCH_TEST_PG_URL'"; exit 0
fi
# 1. A server already on 5432 that lets postgres in without a password (this machine kind).
if pg_ok 5432 && psql -h 127.0.0.1 -U postgres -d postgres -tAc 'select 1' >/dev/null 2>&1; then
  echo "export JAYWATCH_TEST_PG_URL='postgresql+psycopg://postgres@127.0.0.1:5432/postgres'"; exit 0
fi
# 2. The packaged cluster exists but is stopped: start it.
if command -v pg_ctlcluster >/dev/null && ls /etc/postgresql/*/main >/dev/null 2>&1 && ! pg_ok 5432; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start >&2 || true
  for _ in $(seq 50); do pg_ok 5432 && break; sleep 0.1; done
  if psql -h 127.0.0.1 -U postgres -d postgres -tAc 'select 1' >/dev/null 2>&1; then
    echo "export JAYWATCH_TEST_PG_URL='postgresql+psycopg://postgres@127.0.0.1:5432/postgres'"; exit 0
  fi
fi
# 3. A throwaway cluster with trust auth on its own port (initdb refuses root: run as postgres).
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
DIR=/tmp/jaywatch-pg; PORT=55432
if ! pg_ok $PORT; then
  rm -rf "$DIR"; mkdir -p "$DIR"; chown postgres "$DIR" 2>/dev/null || true
  runas() { if [[ $(id -u) -eq 0 ]]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi; }
  runas "$PGBIN/initdb -D $DIR/data -U postgres --auth=trust -E UTF8" >/dev/null
  runas "$PGBIN/pg_ctl -D $DIR/data -l $DIR/log -o '-p $PORT -k $DIR -c listen_addresses=127.0.0.1 -c fsync=off' -w start" >&2
fi
echo "export JAYWATCH_TEST_PG_URL='postgresql+psycopg://postgres@127.0.0.1:$PORT/postgres'"
