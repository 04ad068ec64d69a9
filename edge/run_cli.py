"""``jaywatch edge run``: the long-running gateway process."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

log = logging.getLogger(__name__)


def add_commands(edge_subparsers: argparse._SubParsersAction) -> None:
    p = edge_subparsers.add_parser(
        "run",
        help="run the gateway: cameras, outbox, MQTT link, health",
        description="Run every configured camera until SIGTERM/SIGINT.",
    )
    p.add_argument(
        "--config", type=Path, required=True, help="gateway YAML (config/edge.example.yaml)"
    )
    p.add_argument("--gallery", type=Path, help="enrolled gallery file")
    p.add_argument(
        "--exit-when-done",
        action="store_true",
        help="exit once every file source has been processed and the outbox is drained",
    )
    p.add_argument("--drain-s", type=float, default=30.0, help="wait this long for acks on exit")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from edge.config import ConfigError
    from edge.gallery.store import GalleryError
    from edge.gateway import Gateway
    from edge.gateway_config import load_gateway_config
    from edge.keys import KeyFileError
    from edge.outbox import OutboxError

    try:
        cfg = load_gateway_config(args.config)
        from edge.offline import OfflineRunError
        from edge.pipeline import make_face_stage

        # --gallery wins; else the synced gallery file, once central has sent one.
        synced = cfg.gallery.path if cfg.gallery is not None else None
        start_gallery = args.gallery or (synced if synced and synced.is_file() else None)

        def faces_for(camera):  # one face stage per camera: track ids are per camera
            if args.gallery is None and not camera.faces.enabled:
                return None
            try:
                return make_face_stage(camera, start_gallery)
            except GalleryError as e:
                if args.gallery is not None:
                    raise
                # A damaged synced file: run unidentified until central's next snapshot.
                log.error("%s; starting without a gallery", e)
                return make_face_stage(camera, None)

        gw = Gateway(cfg, faces_for)
    except (ConfigError, KeyFileError, OfflineRunError, OutboxError, GalleryError) as e:
        print(f"jaywatch: error: {e}", file=sys.stderr)
        return 2

    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        log.info("signal %d: stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    gw.start()
    log.info("gateway %s running %d camera(s)", cfg.device_id, len(gw.workers))
    while not stop.wait(0.5):
        if args.exit_when_done and gw.files_done():
            break
    gw.stop(drain_s=args.drain_s)
    return 0
