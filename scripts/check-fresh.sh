#!/usr/bin/env bash
# Runs the README's two commands exactly as written on a truly fresh Debian 12: a minimal
# root made by debootstrap (--variant=minbase) with only python3 and ca-certificates
# added, the working tree copied in (tracked + untracked files that are not ignored; no
# .venv). Set-up runs with network; the commands themselves run in a network namespace
# with only loopback, where their own set-up must then be a no-op (as root, in the root):
#   1. JAYWATCH_BROWSER=0 scripts/setup.sh   network: the set-up scripts/demo.sh runs
#   2. scripts/demo.sh --headless            loopback only
#   3. scripts/setup.sh                      network: the rest (the test packages)
#   4. scripts/test.sh                       loopback only
# Loopback only also keeps the demo's fixed port 8000 and the tests' servers away from
# this machine's own (and from other people's runs). Each command runs in its own mount
# and PID namespace: its mounts and every process it leaves behind go when it ends.
# Prints each command's outcome and wall time and writes artifacts/check-fresh/summary.txt
# (+ one log per command). Too slow for every CI run (the test suite alone takes 12+
# minutes on a busy 2-core machine): run it before resolving an issue that changes
# set-up, and put the summary's result in the README.
#
# Usage: scripts/check-fresh.sh [--rebuild-base] [--keep] [--skip-test-suite]
#   --rebuild-base  build the cached base root again (else it is reused for 30 days)
#   --keep          keep the root afterwards (its path is printed) instead of removing it
#   --skip-test-suite  run steps 1-3 only (set-up, demo, test set-up): for when the suite
#                   itself runs elsewhere at the same time (the clean-clone CI run); the
#                   summary says the test step was skipped and the outcome says so too
# Needs: root, debootstrap, util-linux (unshare, flock), iproute2 (ip), git, network to
# the Debian mirror and PyPI. Env: JAYWATCH_FRESH_MIRROR (default deb.debian.org),
# JAYWATCH_FRESH_CACHE (default /var/cache/jaywatch-fresh), JAYWATCH_FRESH_WORK (where
# the root is made, default /var/tmp).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD

log() { printf '\033[1m[check-fresh]\033[0m %s\n' "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }
hms() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }

rebuild=0 keep=0 skip_tests=0
for a in "$@"; do
  case $a in
    --rebuild-base) rebuild=1 ;;
    --keep) keep=1 ;;
    --skip-test-suite) skip_tests=1 ;;
    *) die "unknown argument $a (usage: scripts/check-fresh.sh [--rebuild-base] [--keep] [--skip-test-suite])" ;;
  esac
done
[[ $(id -u) -eq 0 ]] || die "needs root (debootstrap, chroot, mount and network namespaces)"
for c in debootstrap unshare chroot flock ip tar git; do
  command -v "$c" >/dev/null || die "$c not found"
done

SUITE=bookworm
MIRROR=${JAYWATCH_FRESH_MIRROR:-http://deb.debian.org/debian}
CACHE=${JAYWATCH_FRESH_CACHE:-/var/cache/jaywatch-fresh}
BASE=$CACHE/debian-12-minbase-python3.tar
OUT=$REPO/artifacts/check-fresh
mkdir -p "$CACHE" "$OUT"
WORK=$(mktemp -d "${JAYWATCH_FRESH_WORK:-/var/tmp}/jaywatch-fresh.XXXXXX")
ROOT=$WORK/root
PATH_IN=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# No mount made for a step outlives it (private mount namespaces); refuse to delete a
# tree that still has something mounted in it all the same, and never cross into one.
remove_work() {
  if [[ $keep == 1 ]]; then
    log "kept the root: $ROOT"
  elif grep -q " ${WORK}/" /proc/self/mounts; then
    log "something is still mounted under $WORK; not removing it"
  else
    rm -rf --one-file-system "$WORK"
  fi
}
trap remove_work EXIT

# in_root NET CMD: run CMD (a bash command line) as root in $ROOT with a clean
# environment, /proc, /sys, /dev (+ a private /dev/shm). NET=net shares this machine's
# network; NET=loopback gives it a network namespace with only lo.
in_root() {
  local net=$1 cmd=$2
  local ns=(unshare --mount --propagation private --pid --fork --kill-child)
  [[ $net == loopback ]] && ns+=(--net)
  "${ns[@]}" /bin/bash -c '
    set -e
    R=$1 NET=$2 CMD=$3 PATH_IN=$4
    if [ "$NET" = loopback ]; then ip link set lo up; fi
    mkdir -p "$R/proc" "$R/sys" "$R/dev"
    mount -t proc proc "$R/proc"
    mount -t sysfs sysfs "$R/sys" 2>/dev/null || mount --rbind /sys "$R/sys"
    mount --bind /dev "$R/dev"
    mkdir -p "$R/dev/pts" "$R/dev/shm"
    mount --bind /dev/pts "$R/dev/pts"
    mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$R/dev/shm"
    cp /etc/resolv.conf "$R/etc/resolv.conf" 2>/dev/null || true
    exec chroot "$R" /usr/bin/env -i HOME=/root USER=root LOGNAME=root SHELL=/bin/bash \
      TERM="${TERM:-dumb}" PATH="$PATH_IN" /bin/bash -c "$CMD"
  ' _ "$ROOT" "$net" "$cmd" "$PATH_IN"
}

# --- the base root (cached tarball; every check extracts a pristine copy) ------------------
base_t0=$SECONDS
exec 8>"$CACHE/.lock"
flock 8 # two checks must not build the same tarball at once
if [[ $rebuild == 1 || ! -f $BASE ]] || [[ -n $(find "$BASE" -mtime +30 2>/dev/null) ]]; then
  log "building the base root: debootstrap --variant=minbase $SUITE from $MIRROR (a few minutes)"
  mkdir -p "$ROOT"
  debootstrap --variant=minbase "$SUITE" "$ROOT" "$MIRROR" >"$OUT/base.log" 2>&1 ||
    { tail -n 30 "$OUT/base.log" >&2; die "debootstrap (log: $OUT/base.log)"; }
  # What an installed Debian 12 has and debootstrap does not write: its usual apt
  # sources, /etc/hosts (localhost), a hostname. policy-rc.d keeps package scripts from
  # starting daemons (PostgreSQL on 5432, mosquitto on 1883) in the chroot, where they
  # would meet this machine's own; the project must not rely on them either way.
  cat >"$ROOT/etc/apt/sources.list" <<EOF
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb http://deb.debian.org/debian-security $SUITE-security main
EOF
  printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\tfresh\n' >"$ROOT/etc/hosts"
  echo fresh >"$ROOT/etc/hostname"
  printf '#!/bin/sh\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d"
  chmod 755 "$ROOT/usr/sbin/policy-rc.d"
  # The README's prerequisites, installed the way a user would.
  in_root net "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y python3 ca-certificates && apt-get clean" \
    >>"$OUT/base.log" 2>&1 || { tail -n 30 "$OUT/base.log" >&2; die "installing python3 ca-certificates"; }
  tar -C "$ROOT" --numeric-owner -cf "$BASE.tmp" . && mv "$BASE.tmp" "$BASE"
  rm -rf --one-file-system "$ROOT"
  base_note="built now"
else
  base_note="cached, built $(date -u -r "$BASE" +%Y-%m-%dT%H:%MZ)"
fi
exec 8>&-
mkdir -p "$ROOT"
tar -C "$ROOT" --numeric-owner -xpf "$BASE"
# This machine's network settings, as a fresh machine on the same network would need
# them: its local CA certificates (a TLS-inspecting proxy's, say) in the system store,
# and pip told to trust that store (pip's own bundle does not have them). Not part of
# the cached root: they belong to where the check runs, not to a fresh Debian.
site_note="none"
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
  cp /usr/local/share/ca-certificates/*.crt "$ROOT/usr/local/share/ca-certificates/"
  in_root net "update-ca-certificates" >>"$OUT/base.log" 2>&1 || die "update-ca-certificates in the root"
  printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' >"$ROOT/etc/pip.conf"
  site_note="$(ls /usr/local/share/ca-certificates/*.crt | wc -l) local CA certificate(s) of this machine, pip.conf cert = system store"
fi
base_secs=$((SECONDS - base_t0))
log "base root ready in $(hms $base_secs) ($base_note): $ROOT"

# --- the working tree -----------------------------------------------------------------
commit=$(git rev-parse --short HEAD)
[[ -z $(git status --porcelain) ]] || commit="$commit + uncommitted changes"
mkdir -p "$ROOT/root/jaywatch"
git ls-files -z --cached --others --exclude-standard |
  grep -z -v -E '^\.venv(/|$)' |
  tar --null --ignore-failed-read -T - -cf - 2>/dev/null |
  tar -C "$ROOT/root/jaywatch" -xf -
log "copied the working tree at $commit ($(du -sh "$ROOT/root/jaywatch" | cut -f1)) to /root/jaywatch"

# --- the README's commands ------------------------------------------------------------
started=$(date -u +%Y-%m-%dT%H:%MZ)
results=()
failed=0
step() { # step NAME NET CMD SUMMARY_REGEX
  local name=$1 net=$2 cmd=$3 pattern=$4 t0=$SECONDS rc=0 secs last label
  label="$cmd ($net)"
  log "running: $label"
  in_root "$net" "cd /root/jaywatch && $cmd" 2>&1 | tee "$OUT/$name.log" || rc=${PIPESTATUS[0]}
  secs=$((SECONDS - t0))
  if [[ -d $ROOT/root/jaywatch/artifacts/setup ]]; then # setup.sh's own apt/pip logs
    rm -rf "$OUT/$name-setup-logs"
    cp -r "$ROOT/root/jaywatch/artifacts/setup" "$OUT/$name-setup-logs"
  fi
  # The line that says what happened (pytest's summary, the demo's count), else the last.
  last=$(sed 's/\x1b\[[0-9;]*m//g' "$OUT/$name.log" | grep -a -E "$pattern" | tail -1 | tr -s ' =' ' ' | sed 's/^ *//;s/ *$//' || true)
  [[ -n $last ]] || last=$(sed 's/\x1b\[[0-9;]*m//g' "$OUT/$name.log" | grep -a -v '^[[:space:]]*$' | tail -1 | cut -c1-120 || true)
  if ((rc == 0)); then outcome=ok; else outcome="FAILED (exit $rc)"; failed=1; fi
  log "$label: $outcome in $(hms $secs)"
  results+=("$(printf '%-52s %-16s %7s  %s' "$label" "$outcome" "$(hms $secs)" "$last")")
}
step setup-demo net "JAYWATCH_BROWSER=0 scripts/setup.sh" '^\[setup\] (pip done|apt-get install done)'
step demo loopback "scripts/demo.sh --headless" 'violations stored at central +[0-9]'
step setup-test net "scripts/setup.sh" '^\[setup\] (pip done|apt-get install done)'
if ((skip_tests)); then
  results+=("$(printf '%-52s %-16s %7s  %s' "scripts/test.sh (loopback)" "skipped" "-" "--skip-test-suite")")
else
  step test loopback "scripts/test.sh" '^=+ .*(passed|failed|error).* =+$'
fi

outcome=PASS
((skip_tests == 0)) || outcome="PASS (steps 1-3; test suite skipped)"
((failed == 0)) || outcome=FAIL
{
  echo "check-fresh $started, commit $commit, $(uname -m)"
  echo "base: Debian 12 debootstrap --variant=minbase + python3 ca-certificates ($base_note; ready in $(hms $base_secs))"
  echo "site network settings added: $site_note"
  printf '%s\n' "${results[@]}"
  echo "outcome: $outcome"
} | tee "$OUT/summary.txt" >&2
log "summary: $OUT/summary.txt; logs: $OUT/*.log"
[[ $outcome == PASS* ]]
