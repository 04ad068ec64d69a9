#!/usr/bin/env bash
# PostgreSQL for the tests. Says on stderr which server the tests will use; prints shell
# for eval on stdout. Tests start their own mosquitto brokers (own ports, auth/ACL/TLS).
#
#   eval "$(scripts/services.sh start [RUN_DIR])"
#       JAYWATCH_TEST_PG_URL set: used as it is, nothing is started.
#       Otherwise: a throwaway cluster of its own (trust auth, fsync off) in RUN_DIR (made
#       if not given, under ${TMPDIR:-/tmp}) on a free loopback port; exports
#       JAYWATCH_TEST_PG_URL and JAYWATCH_TEST_PG_DIR. Never a server it did not start.
#   scripts/services.sh stop RUN_DIR
#       Stops that throwaway cluster and removes RUN_DIR.
#
# Parallel runs (other worktrees, other users) do not collide: each has its own directory
# and socket, and a port taken by someone else makes the start retry on another port.
# scripts/test.sh holds a lock on RUN_DIR/lock while it runs; a RUN_DIR whose lock nobody
# holds any more (its test run was killed with SIGKILL) is stopped and removed on start.
set -euo pipefail

log() { printf '\033[1m[services]\033[0m %s\n' "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }
redact() { sed -E 's#(://[^:@/]*):[^@/]*@#\1:***@#' <<<"$1"; }
TMP=${TMPDIR:-/tmp}

pg_bin() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  [[ -n $d && -x $d/initdb ]] || die "PostgreSQL server binaries (initdb, pg_ctl) not found: run scripts/setup.sh"
  echo "$d"
}

# initdb and pg_ctl refuse to run as root: run them as postgres, from a directory that
# user can enter (else they print "could not change directory to ...").
as_pg() {
  local dir=$1
  shift
  if [[ $(id -u) -eq 0 ]]; then
    su postgres -s /bin/sh -c "cd '$dir' && $*"
  else
    (cd "$dir" && sh -c "$*")
  fi
}

stop_cluster() {
  local dir=$1
  [[ -d $dir ]] || return 0
  # Only a directory this script made (it would otherwise rm -rf whatever it was given).
  [[ -f $dir/.jaywatch-pg ]] || die "$dir is not a throwaway cluster directory of scripts/services.sh"
  if [[ -f $dir/data/postmaster.pid ]]; then
    as_pg "$dir" "$(pg_bin)/pg_ctl -D '$dir/data' -m immediate -w stop" >/dev/null 2>&1 || true
  fi
  rm -rf "$dir"
}

reap_abandoned() {
  local lock dir
  for lock in "$TMP"/jaywatch-pg.*/lock; do
    [[ -f $lock ]] || continue
    dir=${lock%/lock}
    # A lock that can be taken has no owner left (flock is released when its holder dies).
    if flock -n "$lock" true 2>/dev/null; then
      log "stopping an abandoned throwaway cluster in $dir (its test run is gone)"
      stop_cluster "$dir"
    fi
  done
}

start() {
  if [[ -n "${JAYWATCH_TEST_PG_URL:-}" ]]; then
    log "PostgreSQL for the tests: $(redact "$JAYWATCH_TEST_PG_URL") (from JAYWATCH_TEST_PG_URL; nothing started)"
    printf "export JAYWATCH_TEST_PG_URL=%q\n" "$JAYWATCH_TEST_PG_URL"
    return
  fi
  local bin dir=${1:-} port tries
  bin=$(pg_bin)
  reap_abandoned
  [[ -n $dir ]] || dir=$(mktemp -d "$TMP/jaywatch-pg.XXXXXX")
  mkdir -p "$dir"
  : >"$dir/.jaywatch-pg"
  chmod 755 "$dir"
  [[ $(id -u) -eq 0 ]] && chown postgres "$dir"
  as_pg "$dir" "$bin/initdb -D '$dir/data' -U postgres --auth=trust -E UTF8 --no-sync" >"$dir/initdb.log" 2>&1 ||
    { cat "$dir/initdb.log" >&2; die "initdb in $dir/data"; }
  for tries in $(seq 20); do
    # Below Linux's ephemeral range, so no test's free_port() hands out the same port.
    port=$((20000 + RANDOM % 12000))
    : >"$dir/log"
    [[ $(id -u) -eq 0 ]] && chown postgres "$dir/log"
    if as_pg "$dir" "$bin/pg_ctl -D '$dir/data' -l '$dir/log' -w -t 60 start \
        -o '-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off'" \
        >/dev/null 2>&1; then
      log "PostgreSQL for the tests: throwaway cluster ($("$bin/postgres" --version | awk '{print $3}')) on 127.0.0.1:$port, data in $dir/data"
      printf "export JAYWATCH_TEST_PG_URL=%q\n" "postgresql+psycopg://postgres@127.0.0.1:$port/postgres"
      printf "export JAYWATCH_TEST_PG_DIR=%q\n" "$dir"
      return
    fi
    grep -q -E "could not bind|Address already in use|could not create any TCP/IP sockets" "$dir/log" || break
  done
  cat "$dir/log" >&2
  stop_cluster "$dir"
  die "could not start the throwaway PostgreSQL cluster (log above)"
}

case "${1:-start}" in
  start) start "${2:-}" ;;
  stop)
    [[ -n ${2:-} ]] || die "usage: scripts/services.sh stop RUN_DIR"
    stop_cluster "$2"
    log "stopped the throwaway PostgreSQL cluster in $2"
    ;;
  *) die "usage: scripts/services.sh [start [RUN_DIR] | stop RUN_DIR]" ;;
esac
