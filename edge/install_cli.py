"""``jaywatch edge check`` and ``jaywatch edge calibrate``: setting up a camera."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_commands(edge_subparsers: argparse._SubParsersAction) -> None:
    p = edge_subparsers.add_parser(
        "check",
        help="check a camera: zone and ROI fit the frame, signal phases, detections, overlay",
        description=(
            "Read a few seconds from the camera's source (or --source), check that "
            "crossing.zone and signal.roi lie inside the frame, print the signal phases "
            "seen with their times, run the camera health checks and save an overlay PNG. "
            "Exit 2 for a config, geometry or source problem, 1 when a health check fails "
            "(dark, moved ...)."
        ),
    )
    p.add_argument("camera", type=Path, help="camera YAML")
    p.add_argument("--source", help="video file or stream URL instead of the camera's source")
    p.add_argument("--seconds", type=float, default=5.0, help="how long to read (default 5)")
    p.add_argument("--out", type=Path, help="write the overlay PNG here")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument(
        "--timeout", type=float, default=15.0, help="seconds to wait for a stream's first frame"
    )
    p.set_defaults(func=_check)

    c = edge_subparsers.add_parser(
        "calibrate",
        help="web page to click the carriageway zone and drag the signal ROI; saves the YAML",
        description=(
            "Serve a page on loopback (the URL with its token is printed) showing the live "
            "frame: click the carriageway polygon, drag the signal ROI, watch the phase "
            "reading, save. The YAML keeps its comments and other keys; saving also stores "
            "the reference frame used by the 'view moved' health check."
        ),
    )
    c.add_argument("camera", type=Path, help="camera YAML (rewritten in place on save)")
    c.add_argument("--source", help="video file or stream URL instead of the camera's source")
    c.add_argument("--host", default="127.0.0.1", help="bind address (default: loopback only)")
    c.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    c.set_defaults(func=_calibrate)


def _fail(msg: str) -> int:
    print(f"jaywatch: error: {msg}", file=sys.stderr)
    return 2


def _check(args: argparse.Namespace) -> int:
    from edge.camera_check import CheckError, run_check
    from edge.config import ConfigError, load_camera_config

    if not args.seconds > 0:
        return _fail(f"--seconds: expected a positive number, got {args.seconds}")
    try:
        cfg = load_camera_config(args.camera)
        report = run_check(cfg, args.camera, args.source, args.seconds, args.out, args.timeout)
    except (ConfigError, CheckError) as e:
        return _fail(str(e))
    if args.json:
        print(json.dumps(report.to_json()))
    else:
        print("\n".join(report.lines()))
    for p in report.problems:  # one line each on stderr too, naming the file
        print(f"jaywatch: error: {args.camera}: {p}", file=sys.stderr)
    if report.problems:
        return 2
    return 1 if report.scene else 0  # it runs, but a health check fails (dark, moved ...)


def _calibrate(args: argparse.Namespace) -> int:
    from edge.calibrate.server import CalibrateError, serve_calibration

    if not 0 <= args.port <= 65535:
        return _fail(f"--port: expected 0..65535, got {args.port}")
    try:
        return serve_calibration(args.camera, args.source, args.host, args.port)
    except CalibrateError as e:
        return _fail(str(e))
