#!/usr/bin/env bash
# The main job on a fresh Debian machine: set up, then process the sample intersection
# video and print the violations (one JSON line each), evidence written to out/demo/.
set -euo pipefail
cd "$(dirname "$0")/.."
JAYWATCH_BROWSER=0 scripts/setup.sh
SCENE=${1:-sample_media/scenes/vtest_road}
shopt -s nullglob
videos=("$SCENE"/*.mp4 "$SCENE"/*.avi)
[[ ${#videos[@]} -gt 0 ]] || { echo "demo: no video in $SCENE" >&2; exit 2; }
video=${videos[0]}
exec .venv/bin/jaywatch edge process "$video" --camera "$SCENE/camera.yaml" --out out/demo --json
