"""``jaywatch edge ...`` and ``jaywatch gallery ...`` commands.

Heavy imports (OpenCV, onnxruntime) happen inside the commands, so ``jaywatch --help``
stays fast and a gateway without a camera attached can still run ``edge keygen``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    edge = sub.add_parser("edge", help="the gateway: process video, run cameras, keys")
    edge_sub = edge.add_subparsers(dest="edge_command", required=True, metavar="COMMAND")

    p = edge_sub.add_parser(
        "process",
        help="process a video offline and print the violations",
        description="Run the pipeline over a video file; one line per violation on stdout.",
    )
    p.add_argument("video", type=Path, help="video file")
    p.add_argument("--camera", type=Path, required=True, help="camera YAML (zone, signal ROI)")
    p.add_argument("--gallery", type=Path, help="enrolled gallery file (fills 'match')")
    p.add_argument("--out", type=Path, help="write evidence JPEGs and violations.jsonl here")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--fps", type=float, help="analysis rate (overrides the camera YAML)")
    p.add_argument(
        "--phases",
        type=Path,
        help="signal controller phase log (JSON lines) for cameras with signal.source: controller",
    )
    p.set_defaults(func=_cmd_process)

    # Other edge commands (keygen, run, check, calibrate, outbox) and the gallery group register
    # themselves here.
    for name in ("edge.gateway_cli", "edge.run_cli", "edge.install_cli", "edge.outbox_cli"):
        try:
            importlib.import_module(name).add_commands(edge_sub)
        except ModuleNotFoundError as e:
            if e.name != name:
                raise
    try:
        importlib.import_module("edge.gallery.cli").register(sub)
    except ModuleNotFoundError as e:
        if e.name != "edge.gallery.cli":
            raise


def _fail(msg: str, code: int = 2) -> int:
    print(f"jaywatch: error: {msg}", file=sys.stderr)
    return code


def _cmd_process(args: argparse.Namespace) -> int:
    from edge.offline import OfflineRunError, process_video

    try:
        return process_video(
            video=args.video,
            camera=args.camera,
            gallery=args.gallery,
            out_dir=args.out,
            as_json=args.json,
            fps=args.fps,
            phases=args.phases,
        )
    except OfflineRunError as e:
        return _fail(str(e), e.exit_code)
    except BrokenPipeError:  # e.g. piped into `head`
        return 0
