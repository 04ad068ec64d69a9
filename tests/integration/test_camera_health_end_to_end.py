"""Camera health end to end with the shipped parts: a live MJPEG camera that has gone dark,
the real `jaywatch edge run` process, mosquitto with passwords and the shipped ACL, and the
real `jaywatch central serve` (config/central.example.yaml, SQLite). The operator's
/console/devices shows the camera's reason ("dark: mean brightness …") and the
signal-unknown alert; central's and the gateway's Prometheus endpoints report both; a
good camera on the same gateway shows its phase and no check."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
import yaml

from central.workflow.common import SYSTEM
from central.workflow.devices import register_device
from jaywatch import wire
from tests.central.helpers import make_context
from tests.integration.helpers import (
    PASSWORDS,
    REPO,
    SCENES,
    camera_yaml,
    gateway_yaml,
    secure_broker,
    start_edge,
    wait_until,
)
from tests.integration.test_camera_faults import MjpegCamera
from tests.services import example_payments, free_port

pytestmark = [pytest.mark.broker, pytest.mark.slow]
OPERATOR_PW = "correct horse battery staple"


def central_config(tmp_path: Path, db_url: str, broker_port: int, metrics_port: int) -> Path:
    """config/central.example.yaml with this test's database, broker and ports."""
    cfg = yaml.safe_load((REPO / "config" / "central.example.yaml").read_text())
    cfg.update(
        database_url=db_url,
        evidence_dir=str(tmp_path / "evidence"),
        fines_file=str(REPO / "config" / "fines.yaml"),
    )
    cfg["mqtt"].update(
        host="127.0.0.1", port=broker_port, username="central", password=PASSWORDS["central"]
    )
    cfg["ingest"]["metrics_port"] = metrics_port
    cfg["api"]["secure_cookies"] = False  # plain HTTP on loopback
    example_payments(cfg, tmp_path)
    path = tmp_path / "central.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def jaywatch(*args: str, env: dict[str, str] | None = None) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "jaywatch_app.cli", *args],
        cwd=REPO, capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})},
    )  # fmt: skip
    assert r.returncode == 0, r.stderr


def camera_cells(html: str, camera: str) -> str:
    m = re.search(rf'<li class="camera[^"]*" data-camera="{camera}">(.*?)</li>', html, re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", m.group(1))) if m else ""


@pytest.mark.timeout(300)
def test_a_dark_camera_shows_its_reason_and_alert_on_the_devices_page(
    make_broker, tmp_path: Path
) -> None:
    broker = secure_broker(make_broker, tls=False)
    db_url = f"sqlite:///{tmp_path / 'central.db'}"
    central_metrics, edge_metrics, http_port = free_port(), free_port(), free_port()
    cfg = central_config(tmp_path, db_url, broker.port, central_metrics)
    jaywatch("central", "--config", str(cfg), "migrate")
    jaywatch(
        "central", "--config", str(cfg), "user", "add", "olive", "--role", "operator",
        env={"JAYWATCH_PASSWORD": OPERATOR_PW},
    )  # fmt: skip
    key = wire.generate_device_key()
    ctx = make_context(db_url, tmp_path / "ctx")
    with ctx.sessions.begin() as s:
        register_device(s, SYSTEM, "gw-a", wire.public_key_bytes(key), "test crossing")
    ctx.close()

    first = cv2.VideoCapture(str(SCENES / "vtest_road" / "video.mp4")).read()[1]
    dark_cam = MjpegCamera((first * 0.05).astype(np.uint8), fps=10)
    # The good camera: the vtest clip as a file source (what the demo runs): its signal
    # is read and no check fails.
    fast = {"check_every_s": 0.5, "dark_after_s": 1.0}
    cams = [
        camera_yaml("vtest_road", tmp_path / "dark.yaml", id="cam-dark", source=dark_cam.url,
                    health=fast),
        camera_yaml("vtest_road", tmp_path / "road.yaml", health=fast),
    ]  # fmt: skip
    edge_cfg = gateway_yaml(
        tmp_path / "gw", "gw-a", broker, cams, key,
        health={"interval_s": 1, "metrics_port": edge_metrics, "signal_unknown_alert_s": 3},
    )  # fmt: skip
    serve = subprocess.Popen(
        [sys.executable, "-m", "jaywatch_app.cli", "central", "--config", str(cfg), "serve",
         "--port", str(http_port)],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=(tmp_path / "serve.log").open("wb"),
        start_new_session=True,
    )  # fmt: skip
    edge = start_edge(edge_cfg, tmp_path / "edge.log")
    http = httpx.Client(base_url=f"http://127.0.0.1:{http_port}", timeout=30)
    try:

        def answers() -> bool:
            try:
                return http.get("/api/health").status_code in (200, 503)
            except httpx.TransportError:
                return False

        wait_until(answers, 60, "central serve to answer")
        r = http.post("/console/login", data={"username": "olive", "password": OPERATOR_PW})
        assert r.status_code == 303, r.text
        page = ""

        def alert_shown() -> bool:
            nonlocal page
            page = http.get("/console/devices").text
            return "ALERT: signal unknown" in camera_cells(page, "cam-dark")

        wait_until(alert_shown, 90, "the dark camera's alert on /console/devices")
        dark = camera_cells(page, "cam-dark")
        assert re.search(r"dark — dark: mean brightness \d+/255 \(below 25\)", dark), dark
        assert "no violation can be detected" in dark
        assert re.search(r"signal (dark|unknown) \(roi\) for \d+ s", dark), dark
        road = camera_cells(page, "vtest-road")
        assert re.search(r"signal (red|green) \(roi\)", road), road
        assert "ALERT" not in road and " — " not in road  # no failed check, no reason
        assert 'class="camera alert" data-camera="cam-dark"' in page

        scrape = httpx.get(f"http://127.0.0.1:{central_metrics}/metrics").text
        labels = 'camera="cam-dark",device="gw-a"'
        assert f"jaywatch_central_camera_signal_alert{{{labels}}} 1.0" in scrape
        assert 'check_failed{camera="cam-dark",check="dark",device="gw-a"} 1.0' in scrape
        edge_scrape = httpx.get(f"http://127.0.0.1:{edge_metrics}/metrics").text
        assert 'jaywatch_camera_signal_alert{camera="cam-dark"} 1.0' in edge_scrape
        assert 'jaywatch_camera_check_failed{camera="cam-dark",check="dark"} 1.0' in edge_scrape
        assert 'jaywatch_camera_check_failed{camera="vtest-road",check="dark"} 0.0' in edge_scrape
        assert serve.poll() is None and edge.poll() is None
    finally:
        http.close()
        for p in (edge, serve):
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
                p.wait(30)
        dark_cam.stop()
    edge_log = (tmp_path / "edge.log").read_text()
    assert edge_log.count("ALERT camera cam-dark") == 1, edge_log[-3000:]
    serve_log = (tmp_path / "serve.log").read_text()
    assert serve_log.count("ALERT device gw-a camera cam-dark") == 1, serve_log[-3000:]
