#!/usr/bin/env bash
# Everything jaywatch needs on a fresh Debian 12 machine, idempotent: system packages,
# a virtualenv in .venv with the project and its extras. Safe to run again, also after a
# run that failed half-way (a .venv without a working pip or without the project is
# rebuilt). Progress: one line per phase, a heartbeat every 15 s while apt or pip work;
# their full output goes to artifacts/setup/*.log and its tail is shown when they fail.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }
LOGDIR=artifacts/setup
mkdir -p "$LOGDIR"

# run_phase NAME PROGRESS_FN CMD...: CMD's output goes to $LOGDIR/NAME.log; every 15 s
# PROGRESS_FN LOG prints a short progress string; the tail of the log is shown on failure.
run_phase() {
  local name=$1 progress=$2 out="$LOGDIR/$1.log" start=$SECONDS rc=0
  shift 2
  "$@" >"$out" 2>&1 &
  local pid=$! next=$((SECONDS + 15))
  while kill -0 "$pid" 2>/dev/null; do
    sleep 0.5
    if ((SECONDS >= next)); then
      log "  $name: $($progress "$out"), $((SECONDS - start)) s so far"
      next=$((SECONDS + 15))
    fi
  done
  wait "$pid" || rc=$?
  if ((rc)); then
    log "$name failed (exit $rc) after $((SECONDS - start)) s; last lines of $out:"
    tail -n 30 "$out" >&2
    return "$rc"
  fi
  PHASE_SECONDS=$((SECONDS - start))
}
count() { grep -c -E "$1" "$2" || true; }
apt_progress() { echo "$(count '^Get:' "$1") downloaded, $(count '^Unpacking' "$1") unpacked, $(count '^Setting up' "$1") set up"; }
pip_progress() {
  local stage="resolving"
  grep -q '^Building' "$1" && stage="building wheels"
  grep -q '^Installing collected packages' "$1" && stage="installing into .venv"
  echo "$stage: $(count '^(Collecting|Obtaining)' "$1") requirements seen, $(count '^ *Downloading' "$1") downloaded"
}
no_progress() { echo "working"; }

# --- system packages (only what is missing; apt-get update only if needed) ----------------
# python3-venv: ensurepip for Debian's python3 (venv fails without it).
# libatomic1: Playwright's bundled node needs libatomic.so.1 (tests/browser).
# strace: tests/edge/test_outbox.py watches the outbox's fsync calls with it.
# poppler-utils: pdftoppm/pdftotext, evidence package PDF tests (tests/central).
# qemu-user-static: the int8 detector checked on an emulated CPU without VNNI
#   (tests/edge/test_int8_model.py; bench/detector_agreement.py, also for ARM).
want=(mosquitto mosquitto-clients postgresql python3-venv libatomic1 strace poppler-utils
  qemu-user-static)
[[ "${JAYWATCH_BROWSER:-1}" == 1 ]] && want+=(chromium chromium-driver)
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=()
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || die "not root and no sudo: install ${missing[*]} as root"
    SUDO=(sudo)
  fi
  export DEBIAN_FRONTEND=noninteractive
  log "apt-get update (missing: ${missing[*]})"
  run_phase apt-update no_progress "${SUDO[@]}" apt-get update || die "apt-get update"
  log "apt-get update done in ${PHASE_SECONDS} s"
  n=$("${SUDO[@]}" apt-get install -s --no-install-recommends "${missing[@]}" 2>/dev/null | grep -c '^Inst ' || true)
  log "apt-get install: ${missing[*]} (${n} packages with dependencies)"
  run_phase apt-install apt_progress "${SUDO[@]}" apt-get install -y --no-install-recommends "${missing[@]}" ||
    die "apt-get install ${missing[*]}"
  log "apt-get install done: $(count '^Setting up' "$LOGDIR/apt-install.log") packages set up in ${PHASE_SECONDS} s"
fi

# --- python ---------------------------------------------------------------------------
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
venv_has_pip() { .venv/bin/python -m pip --version >/dev/null 2>&1; }
# From / so that the checkout itself is not on sys.path: the import must come from .venv.
project_imports() {
  local py=$PWD/.venv/bin/python
  (cd / && "$py" -c 'import jaywatch, edge, central') >/dev/null 2>&1
}

if [[ -e .venv ]] && ! venv_has_pip; then
  # A run that failed while creating it (no ensurepip), or a venv whose Python is gone.
  log "removing a broken .venv (no working pip) to rebuild it"
  rm -rf .venv
fi
if [[ ! -e .venv ]]; then
  log "creating .venv with $($PY --version)"
  if ! "$PY" -m venv .venv >"$LOGDIR/venv.log" 2>&1; then
    cat "$LOGDIR/venv.log" >&2
    rm -rf .venv # a half-made venv would only confuse the next run
    die "$PY -m venv .venv"
  fi
fi

stamp=.venv/.jaywatch-installed
reason=""
if [[ ! -f $stamp ]]; then
  reason="first install"
elif [[ pyproject.toml -nt $stamp ]]; then
  reason="pyproject.toml changed"
elif ! project_imports; then
  reason="the project does not import from .venv"
fi
if [[ -n $reason ]]; then
  rm -f "$stamp"
  log "pip: installing jaywatch with extras edge, central, dev ($reason)"
  run_phase pip-upgrade no_progress .venv/bin/python -m pip install --upgrade pip || die "pip install --upgrade pip"
  run_phase pip-install pip_progress .venv/bin/python -m pip install -e '.[edge,central,dev]' ||
    die "pip install -e '.[edge,central,dev]'"
  pip_seconds=$PHASE_SECONDS
  # face_recognition pins a dlib that needs a long source build; dlib-bin (in the edge
  # extra) provides the same module, so the package itself goes in without its deps.
  run_phase pip-face-recognition no_progress .venv/bin/python -m pip install --no-deps face-recognition==1.3.0 ||
    die "pip install --no-deps face-recognition==1.3.0"
  new=$(grep -h '^Successfully installed' "$LOGDIR"/pip-install.log "$LOGDIR"/pip-face-recognition.log |
    tr ' ' '\n' | grep -c -- '-[0-9]' || true)
  log "pip done: packages installed: ${new}, in $((pip_seconds + PHASE_SECONDS)) s"
  project_imports || die "installed, but '.venv/bin/python -c \"import jaywatch, edge, central\"' fails"
  touch "$stamp"
fi
log "ready: .venv/bin/jaywatch"
