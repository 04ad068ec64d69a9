"""``jaywatch demo``: the whole system on one machine, on the sample media.

It starts the same programs a deployment runs, as separate processes talking over
loopback: mosquitto (dynamic-security plugin: logins + the shipped ACL) — or, where
mosquitto is not installed, the embedded amqtt broker (jaywatch_app/embedded_broker.py: MQTT
3.1.1, passwords, no ACL; both roles then speak 3.1.1) — ``jaywatch central serve`` (SQLite,
ingest, API, operator console, display screens), the SMS sender with the log-only
provider, and ``jaywatch edge run`` on the sample scenes with a gallery of enrolled
people. Only the one-off setup (users, device, enrolment, gallery file) is done
in-process, through the same workflow functions the CLI calls.

This module is the top-level orchestrator, like ``jaywatch_app/cli.py``: it may import both
``edge`` and ``central``; they still never import each other.

The sample media is not part of the installed package: ``--media DIR`` names it, and
defaults to a checkout's ``sample_media/`` only when the demo runs from one.

``--headless`` runs to the end and prints a summary. Nothing is fined without a person:
headless mode has a *simulated operator* (clearly labelled) log in to the API as the
demo operator and confirm each pending match, exactly as a person would in the console.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The checkout this module runs from (when installed: site-packages' parent, which has
# neither sample_media/ nor config/; media_dir and checkout_file then say so).
REPO = Path(__file__).resolve().parents[1]
CHECKOUT_MEDIA = REPO / "sample_media"
DEFAULT_SCENES = ("vtest_road", "synthetic_rules", "synthetic_rules_us", "faces")
DEVICE_ID = "demo-gw"
OPERATOR = ("operator", "demo-operator-pw")
# Four-eyes (review.second_reviewer: weak_matches, as shipped): a weak match needs a second,
# different operator before any sanction; the demo has one, also for a person to try it.
SECOND_OPERATOR = ("operator2", "demo-operator2-pw")
# The demo's undo window after a final confirmation (shipped: 30 s): long enough to try
# Undo in the console, short enough that the headless run does not wait half a minute.
DEMO_UNDO_WINDOW_S = 10
SUPERVISOR = ("supervisor", "demo-supervisor-pw")
ADMIN = ("admin", "demo-admin-pw")
AUDITOR = ("auditor", "demo-auditor-pw")
# role -> (username, password, the page that role starts on); all printed at the end
LOGINS = {
    "operator": (*OPERATOR, "/console/queue"),
    "supervisor": (*SUPERVISOR, "/console/appeals"),
    "admin": (*ADMIN, "/console/dashboard"),
    "auditor": (*AUDITOR, "/console/audit"),
}
# Who is enrolled, from which photos (sample_media/faces/README.md): the face scene's
# walker A is p-obama (his own photo obama3.jpg is NOT enrolled); Biden is not enrolled.
ENROLLED = {
    "p-obama": (["obama.jpg", "obama2.jpg"], "+447911123456", "Demo Person A"),
    "p-astronaut": (["astronaut.jpg"], "+447911123457", "Demo Person B"),
}


class DemoError(RuntimeError):
    """Something the user must fix (missing program, busy port); one line."""


# --- small helpers -------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise DemoError(f"process exited with {proc.returncode} before listening on {port}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise DemoError(f"nothing listening on 127.0.0.1:{port} after {timeout:.0f} s")


class Steps:
    """Numbered progress lines on stderr (stdout is kept for the summary)."""

    def __init__(self, total: int, quiet: bool = False) -> None:
        self.total, self.n, self.quiet = total, 0, quiet
        self.t0 = time.monotonic()

    def step(self, text: str) -> None:
        self.n += 1
        self.say(f"[{self.n}/{self.total}] {text}")

    def say(self, text: str) -> None:
        if not self.quiet:
            print(f"{time.monotonic() - self.t0:6.1f}s  {text}", file=sys.stderr, flush=True)


@dataclass
class Scene:
    name: str
    folder: Path
    camera_id: str
    ground_truth: Path


def media_dir(arg: str | None) -> Path:
    """``--media``: a folder laid out as the repository's sample_media (scenes/, faces/)."""
    if arg is None:
        if not CHECKOUT_MEDIA.is_dir():
            raise DemoError(
                "no sample media: pass --media DIR (a jaywatch checkout's sample_media folder; "
                "it is not installed with the package)"
            )
        return CHECKOUT_MEDIA
    path = Path(arg).expanduser().resolve()
    if not (path / "scenes").is_dir() or not (path / "faces" / "photos").is_dir():
        raise DemoError(f"--media {arg}: expected a sample_media folder (scenes/, faces/photos/)")
    return path


def checkout_file(rel: str) -> Path:
    """A shipped config file the demo uses as a deployment would (ACL, fine schedule)."""
    path = REPO / rel
    if not path.is_file():
        raise DemoError(f"{rel} not found: run the demo from a jaywatch checkout")
    return path


def scene(name: str, media: Path = CHECKOUT_MEDIA) -> Scene:
    import yaml

    folder = media / "faces" / "scene" if name == "faces" else media / "scenes" / name
    cam = folder / "camera.yaml"
    if not cam.is_file():
        known = ", ".join(DEFAULT_SCENES)
        raise DemoError(f"--scenes: unknown scene {name!r} (known: {known})")
    cid = yaml.safe_load(cam.read_text())["id"]
    return Scene(name, folder, cid, folder / "ground_truth.json")


@dataclass
class Procs:
    """Child processes, stopped in reverse order of start (each its own session)."""

    items: list[tuple[str, subprocess.Popen]] = field(default_factory=list)

    def start(self, name: str, argv: list[str], log: Path, **kw: Any) -> subprocess.Popen:
        p = subprocess.Popen(
            argv,
            cwd=REPO,
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
            **kw,
        )
        self.items.append((name, p))
        return p

    def stop_all(self) -> None:
        for _name, p in reversed(self.items):
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGTERM)
                try:
                    p.wait(15)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(p.pid, signal.SIGKILL)
                    p.wait(5)
        self.items.clear()


def jaywatch_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "jaywatch_app.cli", *args]


# --- the broker ----------------------------------------------------------------------------


# Debian's places, for a PATH without the sbin directories (e.g. a non-root shell).
MOSQUITTO_DIRS: tuple[str, ...] = ("/usr/sbin", "/usr/bin")


def find_mosquitto() -> tuple[str, str] | None:
    """The mosquitto and mosquitto_ctrl binaries, or None when either (or the
    dynamic-security plugin the shipped broker config loads) is missing."""
    from jaywatch.broker_acl import find_dynsec_plugin

    def find(name: str) -> str | None:
        extra = [str(Path(d) / name) for d in MOSQUITTO_DIRS if (Path(d) / name).is_file()]
        return shutil.which(name) or (extra[0] if extra else None)

    broker, ctrl = find("mosquitto"), find("mosquitto_ctrl")
    return (broker, ctrl) if broker and ctrl and find_dynsec_plugin() else None


def choose_broker(choice: str) -> tuple[str, str] | None:
    """``--broker``: mosquitto's binaries, or None for the embedded amqtt broker.

    ``auto`` prefers mosquitto (MQTT 5, the shipped ACL, what a deployment runs) and falls
    back to amqtt, which speaks MQTT 3.1.1 only and enforces no ACL: edge and central are
    then configured for 3.1.1 and stay correct through their end-to-end acks.
    """
    found = find_mosquitto() if choice != "embedded" else None
    if found or choice == "mosquitto":
        if not found:
            raise DemoError(
                "mosquitto is not installed: run scripts/setup.sh or `apt-get install "
                "mosquitto`, or pass --broker embedded"
            )
        return found
    try:
        import amqtt  # noqa: F401
    except ImportError:
        raise DemoError(
            "no MQTT broker: mosquitto is not installed and neither is amqtt (the embedded "
            "fallback, in the dev extra): run scripts/setup.sh"
        ) from None
    return None


def ensure_free(port: int, what: str, flag: str) -> None:
    """Refuse a busy port up front: the demo would otherwise talk to someone else's server."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            raise DemoError(
                f"{what} port {port} is in use: pass {flag} PORT (0 picks a free one)"
            ) from None


def write_broker_config(d: Path, port: int, ctrl_bin: str) -> tuple[Path, str]:
    """A loopback listener with persistence and the dynamic-security plugin, as the
    shipped config/mosquitto/mosquitto.conf; returns the config and the dynsec admin's
    password (logins and rules are added once it runs: provision_broker)."""
    import getpass

    from jaywatch.broker_acl import find_dynsec_plugin, init_dynsec_file

    d.mkdir(parents=True, exist_ok=True)
    admin_pw = secrets.token_urlsafe(16)
    dynsec = d / "dynamic-security.json"
    dynsec.unlink(missing_ok=True)
    init_dynsec_file(dynsec, "admin", admin_pw, ctrl=ctrl_bin)
    conf = d / "mosquitto.conf"
    conf.write_text(
        "\n".join(
            [
                f"listener {port} 127.0.0.1",
                f"user {getpass.getuser()}",  # as root: do not drop to 'mosquitto'
                "allow_anonymous false",
                f"plugin {find_dynsec_plugin()}",
                f"plugin_opt_config_file {dynsec}",
                "persistence true",
                f"persistence_location {d}/",
                "autosave_interval 1",
                "max_queued_messages 100000",
                "set_tcp_nodelay true",
                f"log_dest file {d}/mosquitto.log",
                "",
            ]
        )
    )
    return conf, admin_pw


def provision_broker(port: int, admin_pw: str, passwords: dict[str, str]) -> None:
    """Central's login and the demo gateway's (client id bound), with the rules of the
    shipped config/mosquitto/jaywatch.acl — what `jaywatch central broker user` and
    `jaywatch central device add` print for a deployer."""
    from jaywatch.broker_acl import apply_commands, device_commands, load_acl, user_commands

    acl = load_acl(checkout_file("config/mosquitto/jaywatch.acl"))
    cmds = []
    for user, pw in passwords.items():
        cmds += (user_commands if user in acl.users else device_commands)(acl, user, pw)
    apply_commands(cmds, host="127.0.0.1", port=port, admin_user="admin", admin_password=admin_pw)


# --- setup at central ----------------------------------------------------------------------


def write_payment_secret(ws: Path) -> Path:
    """The webhook secret central and the demo's fake provider share (mode 0600)."""
    path = ws / "payments-webhook.secret"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_hex(32) + "\n")
    return path


def write_central_config(
    ws: Path,
    mqtt_port: int,
    http_port: int,
    central_pw: str,
    mqtt_version: str,
    provider_port: int | None = None,
) -> Path:
    import yaml

    cfg = {
        "database_url": f"sqlite:///{ws / 'central.db'}",
        "evidence_dir": str(ws / "evidence"),
        "fines_file": str(checkout_file("config/fines.yaml")),
        "mqtt": {
            "host": "127.0.0.1",
            "port": mqtt_port,
            "username": "central",
            "password": central_pw,
            "client_id": "demo-central-1",
            "mqtt_version": mqtt_version,  # "3.1.1" with the embedded broker: one worker
        },
        "api": {"secure_cookies": False, "base_url": f"http://127.0.0.1:{http_port}"},
        "review": {"second_reviewer": "weak_matches", "undo_window_s": DEMO_UNDO_WINDOW_S},
    }
    if provider_port is not None:
        # "Pay now" goes to the demo's FAKE checkout provider (no money moves), which
        # signs real webhooks back to central, as a card provider would.
        cfg["payments"] = {
            "provider": {
                "kind": "hosted",
                "name": "demo-fake-provider",
                "api_url": f"http://127.0.0.1:{provider_port}",
                "webhook_secret_file": str(ws / "payments-webhook.secret"),
            }
        }
    path = ws / "central.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def write_notices_config(ws: Path, http_port: int) -> Path:
    import yaml

    cfg = {
        "provider": {"kind": "log"},
        "poll_interval_s": 0.5,
        "notice_url": f"http://127.0.0.1:{http_port}/n/{{reference}}",  # central's link route
    }
    path = ws / "notices.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def setup_central(
    central_yaml: Path, public_key: bytes, scenes: list[Scene], media: Path = CHECKOUT_MEDIA
) -> None:
    """Schema, the four demo logins (one per role), the demo gateway and the enrolled
    people."""
    from central.config import load_config
    from central.context import Context
    from central.workflow.common import SYSTEM
    from central.workflow.devices import register_device
    from central.workflow.persons import enrol
    from central.workflow.photos import add_photos
    from central.workflow.users import actor_of, create_user

    ctx = Context.from_config(load_config(central_yaml))  # migrates to the newest schema
    try:
        with ctx.sessions.begin() as s:
            users = {
                role: create_user(s, SYSTEM, name, pw, role)
                for role, (name, pw, _page) in LOGINS.items()
            }
            create_user(s, SYSTEM, *SECOND_OPERATOR, "operator")
            sup = users["supervisor"]
            register_device(
                s,
                SYSTEM,
                DEVICE_ID,
                public_key,
                "Demo crossing (sample media)",
                {sc.camera_id: f"{sc.name} (sample)" for sc in scenes},
            )
            s.flush()
            boss = actor_of(sup)
            for pid, (photos, phone, name) in ENROLLED.items():
                enrol(s, boss, ctx.rules, phone, "demo: public-domain sample photos", name, pid)
                # The same photos the gallery is built from: the reviewer sees them beside
                # the captured face.
                files = [(n, (media / "faces" / "photos" / n).read_bytes()) for n in photos]
                add_photos(s, boss, ctx.evidence, pid, files)
    finally:
        ctx.close()


def build_demo_gallery(out: Path, media: Path = CHECKOUT_MEDIA) -> None:
    """The edge's gallery of the enrolled people (SFace embeddings of their photos)."""
    from edge.faces.config import FacesConfig
    from edge.faces.detect import YuNetDetector
    from edge.faces.embed import make_embedder
    from edge.gallery.build import build_gallery

    photos = media / "faces" / "photos"
    pairs = [(pid, photos / n) for pid, (names, _p, _n) in ENROLLED.items() for n in names]
    cfg = FacesConfig()
    res = build_gallery(pairs, {"sface": make_embedder("sface")}, cfg, YuNetDetector(), 1)
    if res.gallery is None or res.problems:
        raise DemoError(f"demo gallery could not be built: {res.problems}")
    res.gallery.save(out)


def write_edge_config(
    ws: Path, mqtt_port: int, device_pw: str, scenes: list[Scene], mqtt_version: str
) -> Path:
    import yaml

    d = ws / "edge"
    cams = []
    for sc in scenes:
        data = yaml.safe_load((sc.folder / "camera.yaml").read_text())
        data["source"] = str(sc.folder / "video.mp4")
        p = d / f"{sc.camera_id}.yaml"
        p.write_text(yaml.safe_dump(data))
        cams.append(p.name)
    (d / "mqtt.password").write_text(device_pw + "\n")
    (d / "mqtt.password").chmod(0o600)
    cfg = {
        "device_id": DEVICE_ID,
        "broker": {
            "host": "127.0.0.1",
            "port": mqtt_port,
            "tls": False,  # loopback only; deploy/ has the TLS listener
            "password_file": "mqtt.password",
            "keepalive_s": 10,
            "reconnect_min_s": 0.5,
            "reconnect_max_s": 2,
            "mqtt_version": mqtt_version,
        },
        "key_file": "device.key",
        "outbox": {"path": "outbox.sqlite", "retry_base_s": 2, "retry_max_s": 10},
        "cameras": cams,
        "health": {"interval_s": 2, "metrics_port": None},
    }
    path = d / "edge.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


# --- watching central ----------------------------------------------------------------------


@dataclass
class Summary:
    violations: int = 0  # events stored at central
    by_camera: dict[str, int] = field(default_factory=dict)
    matched: int = 0  # matched to an enrolled person (reached the review queue)
    unidentified: int = 0
    pending_review: int = 0  # still waiting for a person
    confirmed: int = 0  # by an operator (in headless mode: the simulated one)
    fines: int = 0
    paid_through_provider: int = 0  # fines fully paid by a checkout provider's webhook
    notices_sent: int = 0  # sent or delivered by the SMS provider (log-only here)
    notices_pending: int = 0
    dead_letters: int = 0
    device_online: bool | None = None


def read_summary(db_url: str) -> Summary:
    import sqlalchemy as sa

    from central.notices.models import NoticeDelivery
    from central.store.models import DeadLetter, Device, Event, Fine, Notice, Payment
    from central.store.status import FineStatus

    eng = sa.create_engine(db_url)
    try:
        with eng.connect() as c:
            rows = c.execute(sa.select(Event.camera_id, Event.status, Event.match_person_id)).all()
            fines = c.execute(sa.select(sa.func.count()).select_from(Fine)).scalar_one()
            paid = c.execute(
                sa.select(sa.func.count(sa.distinct(Fine.id)))
                .join(Payment, Payment.fine_id == Fine.id)
                .where(Fine.status == FineStatus.paid, Payment.channel == "checkout")
            ).scalar_one()
            sent_q = (
                sa.select(sa.func.count())
                .select_from(NoticeDelivery)
                .where(NoticeDelivery.submitted_at.is_not(None))
            )
            sent = c.execute(sent_q).scalar_one()
            notices = c.execute(sa.select(sa.func.count()).select_from(Notice)).scalar_one()
            dead = c.execute(sa.select(sa.func.count()).select_from(DeadLetter)).scalar_one()
            online = c.execute(sa.select(Device.online).where(Device.id == DEVICE_ID)).scalar()
    finally:
        eng.dispose()
    by_cam: dict[str, int] = {}
    for cam, _st, _m in rows:
        by_cam[cam] = by_cam.get(cam, 0) + 1
    return Summary(
        violations=len(rows),
        by_camera=by_cam,
        matched=sum(1 for _c, _s, m in rows if m is not None),
        unidentified=sum(1 for _c, s, _m in rows if s == "unidentified"),
        pending_review=sum(1 for _c, s, _m in rows if s == "pending_review"),
        confirmed=sum(1 for _c, s, _m in rows if s == "confirmed"),
        fines=fines,
        paid_through_provider=paid,
        notices_sent=sent,
        notices_pending=notices - sent,
        dead_letters=dead,
        device_online=online,
    )


def wait_for(
    cond: Callable[[], bool], timeout: float, what: str, tick: Callable[[], None] = lambda: None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        tick()
        time.sleep(0.25)
    raise DemoError(f"timed out after {timeout:.0f} s waiting for {what}")


# --- the simulated operator (headless only) ------------------------------------------------


def simulated_operator_confirms(base_url: str, say: Callable[[str], None]) -> int:
    """Log in as the demo operator and confirm every event in the review queue through
    the same HTTP API the console uses; where four-eyes asks for it (a weak match), the
    demo's second operator confirms too. Only for ``--headless``, and always labelled.
    Returns the number of events finally confirmed (their fines follow once the undo
    window has passed: central serve issues them)."""
    import httpx

    def login(user: tuple[str, str]) -> httpx.Client:
        http = httpx.Client(base_url=base_url, timeout=30)
        r = http.post("/api/auth/login", json={"username": user[0], "password": user[1]})
        r.raise_for_status()
        http.headers["Authorization"] = f"Bearer {r.json()['token']}"
        return http

    def confirm(http: httpx.Client, who: str, ev: dict[str, Any]) -> dict[str, Any]:
        r = http.post(f"/api/events/{ev['event_id']}/confirm")
        r.raise_for_status()
        d = r.json()
        outcome = {
            "second_review": "awaits a second operator (weak match)",
            "confirming": f"fine issued after the undo window ({d.get('undo_until')})",
            "confirmed": f"fine {(d.get('fine') or {}).get('reference')}",
        }.get(d["status"], d["status"])
        say(
            f"      [SIMULATED OPERATOR '{who}'] confirmed event {ev['event_id'][:8]}… "
            f"({ev['camera_id']}, person {ev['match_person_id']}, "
            f"score {ev['match_score']:.2f}) → {outcome}"
        )
        return d

    first, second = login(OPERATOR), login(SECOND_OPERATOR)
    try:
        n = 0
        while True:
            queue = first.get("/api/review/queue", params={"limit": 100})
            queue.raise_for_status()
            items = queue.json()
            if not items:
                return n
            for ev in items:
                d = (
                    confirm(first, OPERATOR[0], ev)
                    if ev["status"] == "pending_review"
                    else {"status": ev["status"]}
                )
                if d["status"] == "second_review":
                    d = confirm(second, SECOND_OPERATOR[0], ev)
                n += 1
    finally:
        first.close()
        second.close()


def simulated_citizen_pays(base_url: str, db_url: str, say: Callable[[str], None]) -> str | None:
    """The holder of the first fine opens the notice with the reference and code from
    their SMS, presses "Pay now" and pays on the (fake) provider's page; the provider's
    signed webhook is what marks the fine paid. Only for ``--headless``, always labelled.
    Returns the reference paid, or None when there is no fine."""
    import re

    import httpx
    import sqlalchemy as sa

    from central.notices.models import NoticeDelivery
    from central.store.models import Notice

    eng = sa.create_engine(db_url)
    try:
        with eng.connect() as c:
            text = c.execute(
                sa.select(NoticeDelivery.text)
                .join(Notice, Notice.id == NoticeDelivery.notice_id)
                .where(Notice.kind == "fine_issued", NoticeDelivery.text.is_not(None))
                .order_by(Notice.id)
            ).scalar()
    finally:
        eng.dispose()
    # The shipped templates (config/notices.example.yaml): "Ref <reference> code <code>."
    m = re.search(r"Ref (\S+) code (\S+?)\.", text or "")
    if m is None:
        return None
    reference, code = m.group(1), m.group(2)
    with httpx.Client(base_url=base_url, timeout=30) as http:
        r = http.post("/notice/pay", data={"reference": reference, "code": code})
        if r.status_code != 303:
            raise DemoError(f"Pay now for {reference}: HTTP {r.status_code}, expected a redirect")
        checkout = r.headers["location"]
        say(f"      [SIMULATED CITIZEN] opened notice {reference}, pressed Pay now → {checkout}")
        page = httpx.get(checkout, timeout=30)
        page.raise_for_status()
        done = httpx.post(checkout + "/pay", timeout=30)
        if done.status_code != 303:
            raise DemoError(f"fake provider: HTTP {done.status_code} paying {reference}")
    say(f"      [SIMULATED CITIZEN] paid {reference} on the FAKE provider's page (no money moves)")
    return reference


# --- the run -------------------------------------------------------------------------------


MARKER = ".jaywatch-demo"


def fresh_workspace(path: Path) -> Path:
    """Wipe and recreate the demo's folder (a second run must not see the first one's DB).

    Only a folder the demo made (it holds the marker file) or an empty one is wiped, so a
    mistyped ``--workdir`` can never delete someone's files.
    """
    if path.exists():
        if not path.is_dir() or (any(path.iterdir()) and not (path / MARKER).is_file()):
            raise DemoError(f"--workdir {path}: exists and was not made by the demo; not wiping it")
        shutil.rmtree(path)
    for sub in ("edge", "broker", "logs"):
        (path / sub).mkdir(parents=True)
    (path / MARKER).write_text("made by `jaywatch demo`; wiped by the next run\n")
    return path


def run(args: argparse.Namespace) -> int:
    import logging

    if not getattr(args, "verbose", False):  # the steps say what happens; keep libraries quiet
        for name in ("alembic", "httpx", "edge", "central"):
            logging.getLogger(name).setLevel(logging.WARNING)
    steps = Steps(total=7 if args.headless else 6, quiet=args.quiet)
    procs = Procs()
    ws = Path(args.workdir).resolve()
    try:
        media = media_dir(args.media)
        scenes = [scene(s, media) for s in args.scenes.split(",") if s]
        mosquitto = choose_broker(args.broker)
        fresh_workspace(ws)
        return _run(args, media, scenes, steps, procs, ws, mosquitto)
    except DemoError as e:
        print(f"jaywatch demo: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        steps.say("interrupted: stopping everything")
        return 130
    finally:
        procs.stop_all()


def _run(
    args: argparse.Namespace,
    media: Path,
    scenes: list[Scene],
    steps: Steps,
    procs: Procs,
    ws: Path,
    mosquitto: tuple[str, str] | None,
) -> int:
    from edge.keys import generate_key_file
    from jaywatch import wire

    logs = ws / "logs"
    mqtt_port = args.mqtt_port or free_port()
    http_port = args.port or free_port()
    ensure_free(http_port, "HTTP", "--port")
    ensure_free(mqtt_port, "MQTT", "--mqtt-port")
    base = f"http://127.0.0.1:{http_port}"
    pw = {"central": secrets.token_urlsafe(16), DEVICE_ID: secrets.token_urlsafe(16)}

    if mosquitto is not None:
        steps.step(
            f"broker: mosquitto on 127.0.0.1:{mqtt_port} (MQTT 5, dynamic-security: logins "
            "+ the shipped ACL, client ids bound)"
        )
        conf, admin_pw = write_broker_config(ws / "broker", mqtt_port, mosquitto[1])
        broker = procs.start("mosquitto", [mosquitto[0], "-c", str(conf)], logs / "mosquitto.log")
        wait_port(mqtt_port, 20, broker)
        provision_broker(mqtt_port, admin_pw, pw)
        mqtt_version = "5"
    else:
        from jaywatch_app.embedded_broker import write_config

        steps.step(
            f"broker: EMBEDDED amqtt on 127.0.0.1:{mqtt_port} (mosquitto not used): MQTT "
            "3.1.1, passwords, NO topic ACL — for this demo only"
        )
        conf = write_config(ws / "broker", mqtt_port, pw)
        argv = [sys.executable, "-m", "jaywatch_app.embedded_broker", str(conf)]
        broker = procs.start("broker", argv, logs / "broker.log")
        mqtt_version = "3.1.1"
    wait_port(mqtt_port, 20, broker)

    steps.step("central: SQLite schema, demo logins, gateway key + registration, enrolment")
    provider_port = free_port()
    write_payment_secret(ws)
    central_yaml = write_central_config(
        ws, mqtt_port, http_port, pw["central"], mqtt_version, provider_port
    )
    key = generate_key_file(ws / "edge" / "device.key")
    setup_central(central_yaml, wire.public_key_bytes(key), scenes, media)
    build_demo_gallery(ws / "edge" / "gallery.npz", media)
    steps.say(f"      enrolled {', '.join(ENROLLED)}; gallery {ws / 'edge' / 'gallery.npz'}")

    steps.step(f"central: API, operator console and display screens on {base}")
    env = {**os.environ, "JAYWATCH_CENTRAL_CONFIG": str(central_yaml)}
    central = procs.start(
        "central",
        jaywatch_argv("central", "serve", "--port", str(http_port)),
        logs / "central.log",
        env=env,
    )
    wait_port(http_port, 60, central)

    steps.step(
        f"payments: a FAKE checkout provider on 127.0.0.1:{provider_port} (no money moves) "
        "that signs real webhooks to central, as a card provider would"
    )
    fake = procs.start(
        "payments",
        jaywatch_argv(
            "central", "payments", "fake-provider",
            "--secret-file", str(ws / "payments-webhook.secret"),
            "--webhook-url", f"{base}/api/payments/webhook",
            "--port", str(provider_port),
        ),
        logs / "payments.log",
        env=env,
    )  # fmt: skip
    wait_port(provider_port, 30, fake)

    steps.step("SMS sender: log-only provider (messages go to logs/sms.log)")
    notices_yaml = write_notices_config(ws, http_port)
    procs.start(
        "sms",
        jaywatch_argv("central", "notices", "send", "--notices-config", str(notices_yaml)),
        logs / "sms.log",
        env=env,
    )

    edge_yaml = write_edge_config(ws, mqtt_port, pw[DEVICE_ID], scenes, mqtt_version)
    names = ", ".join(sc.camera_id for sc in scenes)
    steps.step(f"edge: gateway {DEVICE_ID} on {len(scenes)} sample camera(s): {names}")
    edge = procs.start(
        "edge",
        jaywatch_argv(
            "edge",
            "run",
            "--config",
            str(edge_yaml),
            "--gallery",
            str(ws / "edge" / "gallery.npz"),
            "--exit-when-done",
            "--drain-s",
            "60",
        ),
        logs / "edge.log",
    )
    _print_access(base, steps, ws)

    db_url = f"sqlite:///{ws / 'central.db'}"
    expected = sum(
        len(json.loads(sc.ground_truth.read_text())["expected_violations"]) for sc in scenes
    )
    last = [-1]

    def progress() -> None:
        s = read_summary(db_url)
        if s.violations != last[0]:
            last[0] = s.violations
            bar = "#" * min(30, s.violations) + "." * max(0, min(30, expected) - s.violations)
            steps.say(
                f"      [{bar}] {s.violations} violation(s) stored at central "
                f"(scenes' ground truth: {expected}); {s.matched} matched to an enrolled person"
            )

    steps.step("edge: analysing the sample videos (violations arrive at central as found)")
    wait_for(lambda: edge.poll() is not None, args.timeout, "the edge to finish", progress)
    progress()
    if edge.returncode != 0:
        raise DemoError(f"the edge exited with {edge.returncode}; see {logs / 'edge.log'}")
    steps.say("      edge finished: every file processed and its outbox drained (acked by central)")

    if not args.headless:
        steps.say(
            "\nThe review queue is waiting for a person: log in to the console and decide.\n"
            f"A weak match needs both operators (four-eyes); a fine and its SMS (logs/sms.log) "
            f"follow {DEMO_UNDO_WINDOW_S} s after the final confirmation (the undo window). "
            "Ctrl-C stops the demo."
        )
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        with contextlib.suppress(KeyboardInterrupt):
            while not stop.wait(0.5):
                dead = [n for n, p in procs.items if n != "edge" and p.poll() is not None]
                if dead:
                    raise DemoError(f"{dead[0]} exited; see {logs}/{dead[0]}.log")
        steps.say("stopping everything")
        return 0

    before = read_summary(db_url)
    steps.step(
        "headless: a SIMULATED OPERATOR (not a person) confirms the review queue through the "
        "console's API, logged in as the demo operator (and the demo's second operator where "
        f"four-eyes asks for it); fines follow after the {DEMO_UNDO_WINDOW_S} s undo window"
    )
    confirmed = simulated_operator_confirms(base, steps.say)
    wait_for(
        lambda: read_summary(db_url).notices_sent >= confirmed,
        60 + DEMO_UNDO_WINDOW_S,
        "the SMS sender to send every notice",
    )
    steps.step(
        "headless: a SIMULATED CITIZEN pays a fine through the provider (Pay now → the fake "
        "provider's page → its signed webhook); the payment clears the screen and sends an SMS"
    )
    paid_ref = simulated_citizen_pays(base, db_url, steps.say)
    if paid_ref is not None:
        wait_for(
            lambda: read_summary(db_url).paid_through_provider >= 1,
            60,
            "the provider's webhook to mark the fine paid",
        )
        wait_for(
            lambda: read_summary(db_url).notices_sent >= confirmed + 1,
            60,
            "the SMS sender to send the payment notice",
        )
    after = read_summary(db_url)
    import httpx

    screen = httpx.get(f"{base}/display/{DEVICE_ID}/feed.json", timeout=30).json()
    report = {
        "violations": after.violations,
        "by_camera": after.by_camera,
        "matched": after.matched,
        "unidentified": after.unidentified,
        "pending_review_before_operator": before.pending_review,
        "pending_review": after.pending_review,
        "confirmed_by_simulated_operator": confirmed,
        "confirmed": after.confirmed,
        "fines": after.fines,
        "paid_through_provider": after.paid_through_provider,
        "notices_sent": after.notices_sent,
        "display_items": len(screen["items"]),
        "dead_letters": after.dead_letters,
        "ground_truth_violations": expected,
        "broker": "mosquitto" if mosquitto is not None else "embedded",
        "workdir": str(ws),
        "database_url": db_url,
    }
    (ws / "summary.json").write_text(json.dumps(report, indent=2) + "\n")
    _print_summary(report, args.json)
    return 0


def access_text(base: str, ws: Path) -> str:
    """What the demo prints at the end: where to go and how to log in, per role."""
    logins = "".join(
        f"  {role + ' login':<18} {base}{page}   {name} / {pw}\n"
        for role, (name, pw, page) in LOGINS.items()
    )
    logins += (
        f"  {'2nd operator':<18} {base}/console/queue   {SECOND_OPERATOR[0]} / "
        f"{SECOND_OPERATOR[1]}  (four-eyes: weak matches need both operators)\n"
    )
    return (
        "\n"
        f"{logins}"
        f"  display screen     {base}/display/{DEVICE_ID}\n"
        f"  citizen notice     {base}/notice   (reference + code from the SMS in logs/sms.log)\n"
        f"  API docs           {base}/api/docs\n"
        f"  workspace          {ws}  (logs/, central.db, evidence/)\n"
    )


def _print_access(base: str, steps: Steps, ws: Path) -> None:
    steps.say(access_text(base, ws))


def _print_summary(r: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(r))
        return
    cams = ", ".join(f"{k} {v}" for k, v in sorted(r["by_camera"].items()))
    print(
        "\njaywatch demo summary\n"
        f"  violations stored at central    {r['violations']}  ({cams})\n"
        f"  scenes' ground truth            {r['ground_truth_violations']}\n"
        f"  matched to an enrolled person   {r['matched']}\n"
        f"  unidentified (faces blurred)    {r['unidentified']}\n"
        f"  pending review (before)         {r['pending_review_before_operator']}\n"
        f"  confirmed (SIMULATED operator)  {r['confirmed']}\n"
        f"  pending review (now)            {r['pending_review']}\n"
        f"  fines issued                    {r['fines']}\n"
        f"  paid through the provider       {r['paid_through_provider']}  (SIMULATED citizen)\n"
        f"  SMS notices sent (log only)     {r['notices_sent']}\n"
        f"  on the display screen           {r['display_items']}\n"
        f"  dead letters                    {r['dead_letters']}\n"
        f"  broker                          {r['broker']}\n"
        f"  workspace                       {r['workdir']}"
    )


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="run the whole system on the sample media (broker, central, edge, console)",
        description="Start mosquitto (or, without it, the embedded amqtt broker), central "
        "(SQLite), the SMS sender (log only) and the edge on the sample scenes; print the "
        "console and display URLs and the demo logins.",
    )
    p.add_argument("--headless", action="store_true", help="run to the end, print a summary")
    p.add_argument("--port", type=int, default=8000, help="HTTP port of central (0: any free)")
    p.add_argument("--mqtt-port", type=int, default=0, help="broker port (default: any free)")
    p.add_argument(
        "--broker",
        choices=("auto", "mosquitto", "embedded"),
        default="auto",
        help="auto: mosquitto if installed, else the embedded amqtt broker (MQTT 3.1.1, no "
        "ACL; demo only)",
    )
    p.add_argument(
        "--workdir",
        default=str(REPO / "out" / "demo-run") if CHECKOUT_MEDIA.is_dir() else "jaywatch-demo",
        help="workspace, wiped first (only one the demo made)",
    )
    p.add_argument(
        "--scenes", default=",".join(DEFAULT_SCENES), help="comma-separated sample scenes"
    )
    p.add_argument(
        "--media",
        metavar="DIR",
        help="sample media folder (scenes/, faces/); default: the checkout's sample_media "
        "when run from a checkout",
    )
    p.add_argument("--timeout", type=float, default=600, help="give up after this many seconds")
    p.add_argument("--json", action="store_true", help="headless: summary as one JSON line")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=run)


__all__ = ["Summary", "read_summary", "register", "run"]
