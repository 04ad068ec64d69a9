#!/usr/bin/env bash
# Everything jaywatch needs on a fresh Debian machine, idempotent: system packages,
# a virtualenv in .venv with the project and its extras. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }

# --- system packages (only what is missing; apt-get update only if needed) ----------------
want=(mosquitto mosquitto-clients postgresql)
[[ "${JAYWATCH_BROWSER:-1}" == 1 ]] && want+=(chromium chromium-driver)
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  log "installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- python ---------------------------------------------------------------------------
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
if [[ ! -x .venv/bin/python ]]; then
  log "creating .venv with $($PY --version)"
  "$PY" -m venv .venv
fi
stamp=.venv/.jaywatch-installed
if [[ ! -f $stamp || pyproject.toml -nt $stamp ]]; then
  log "installing jaywatch with extras edge, central, dev"
  .venv/bin/pip install -q --upgrade pip 2>&1 | grep -v -i warning || true
  .venv/bin/pip install -q -e '.[edge,central,dev]'
  # face_recognition pins a dlib that needs a long source build; dlib-bin (in the edge
  # extra) provides the same module, so the package itself goes in without its deps.
  .venv/bin/pip install -q --no-deps face-recognition==1.3.0
  touch "$stamp"
fi
log "ready: .venv/bin/jaywatch"
