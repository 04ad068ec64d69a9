#!/usr/bin/env bash
# Makes an arm64 Debian 12 Python with this checkout's onnxruntime and numpy versions, to
# run the detectors under qemu-user (bench/detector_agreement.py --arm64-root DIR): does
# a model give the same boxes on an ARM gateway's NEON / dot-product kernels as on x86?
#   1. debootstrap --foreign --arch=arm64 --variant=minbase --include=python3 bookworm:
#      downloads and unpacks the base; the python3 packages it only downloads are unpacked
#      with dpkg-deb -x (no maintainer scripts are needed to run python3 under qemu, and
#      without binfmt_misc, which containers rarely have, the second stage cannot run).
#   2. PyPI's manylinux aarch64 wheels of the onnxruntime and numpy versions in .venv
#      (pip download --platform), unpacked into DIR/site (PYTHONPATH).
# Needs: root, debootstrap, qemu-user-static (qemu-aarch64-static), network to the Debian
# mirror and PyPI, .venv (scripts/setup.sh). ~2 min and ~250 MB.
#
# Usage: scripts/arm64-emulation-root.sh DIR     (DIR must not exist, or be such a root)
# Env: JAYWATCH_ARM64_MIRROR (default http://deb.debian.org/debian)
set -euo pipefail
cd "$(dirname "$0")/.."
log() { printf '[arm64-root] %s\n' "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }
[[ $# -eq 1 ]] || die "usage: scripts/arm64-emulation-root.sh DIR"
DIR=$1
[[ $(id -u) -eq 0 ]] || die "needs root (debootstrap)"
for c in debootstrap dpkg-deb qemu-aarch64-static; do
  command -v "$c" >/dev/null || die "$c not found (apt-get install debootstrap qemu-user-static)"
done
PY=.venv/bin/python
[[ -x $PY ]] || die ".venv/bin/python not found: run scripts/setup.sh first"
MIRROR=${JAYWATCH_ARM64_MIRROR:-http://deb.debian.org/debian}

if [[ ! -x $DIR/usr/bin/python3.11 ]]; then
  log "debootstrap arm64 bookworm into $DIR"
  debootstrap --foreign --arch=arm64 --variant=minbase --include=python3 bookworm "$DIR" \
    "$MIRROR" >"$DIR.debootstrap.log" 2>&1 || die "debootstrap (log: $DIR.debootstrap.log)"
  for deb in "$DIR"/var/cache/apt/archives/*.deb; do dpkg-deb -x "$deb" "$DIR"; done
fi
versions=$($PY -c 'import numpy, onnxruntime; print(onnxruntime.__version__, numpy.__version__)')
read -r ort np <<<"$versions"
log "aarch64 wheels: onnxruntime $ort, numpy $np"
wheels=$DIR.wheels
rm -rf "$wheels" "$DIR/site"
$PY -m pip download -q --only-binary=:all: --python-version 3.11 --implementation cp \
  --platform manylinux_2_28_aarch64 --platform manylinux2014_aarch64 \
  --platform manylinux_2_17_aarch64 --no-deps -d "$wheels" \
  "onnxruntime==$ort" "numpy==$np" flatbuffers packaging || die "pip download"
mkdir -p "$DIR/site"
for w in "$wheels"/*.whl; do $PY -m zipfile -e "$w" "$DIR/site"; done
rm -rf "$wheels"
PYTHONPATH=$DIR/site qemu-aarch64-static -L "$DIR" "$DIR/usr/bin/python3" -c \
  'import platform, numpy; print("ok  ", platform.machine(), "python", platform.python_version(), "numpy", numpy.__version__)' \
  || die "the arm64 python does not run under qemu-aarch64-static"
log "done: bench/detector_agreement.py --arm64-root $DIR"
