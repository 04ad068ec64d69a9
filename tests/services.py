"""Real services for tests: a mosquitto broker per test (own port, own settings) and
PostgreSQL databases. No mocks: these are the programs production runs.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"


DYNSEC_ADMIN = ("dynsec-admin", "dynsec-admin-pw")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """uvicorn serving an ASGI app on loopback in a thread, for the test's duration. ``port``
    lets a caller pick it first (e.g. from free_port()) when the app needs its own URL."""

    def __init__(self, app: Any, port: int | None = None) -> None:
        import uvicorn  # central's extra; only the tests that serve HTTP need it

        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cfg = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            timeout_graceful_shutdown=1,
            proxy_headers=False,  # as `central serve`: only http.trusted_proxies are believed
        )
        self.server = uvicorn.Server(cfg)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError(f"uvicorn did not start on port {self.port}")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def wait_port(host: str, port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
            return
        time.sleep(0.02)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout}s")


@dataclass
class Broker:
    """A mosquitto process on a free loopback port; restartable for fault tests.

    ``passwords`` (user → password) turns on authentication, ``acl`` is the text of an
    ACL file, ``tls`` serves TLS with a throwaway CA (``cafile`` for clients).
    ``dynsec_acl`` (ACL text) instead applies it as the shipped broker does: mosquitto's
    dynamic-security plugin, ``user`` blocks as service users, every other login of
    ``passwords`` a device (client id bound, own role) — jaywatch/broker_acl.py.
    Persistence is on, so QoS 1 sessions survive ``restart()``.
    """

    workdir: Path
    passwords: dict[str, str] | None = None
    acl: str | None = None
    dynsec_acl: str | None = None
    tls: bool = False
    extra: str = ""
    host: str = "127.0.0.1"
    port: int = field(default_factory=free_port)
    cafile: Path | None = None
    proc: subprocess.Popen | None = None

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        lines = [
            f"listener {self.port} {self.host}",
            "user root",
            "persistence true",
            f"persistence_location {self.workdir}/",
            "autosave_interval 1",
            f"log_dest file {self.workdir}/mosquitto.log",
            "max_queued_messages 100000",
            "max_inflight_messages 100",
        ]
        if self.dynsec_acl is not None:
            from jaywatch.broker_acl import find_dynsec_plugin, init_dynsec_file

            self.dynsec_file = self.workdir / "dynamic-security.json"
            init_dynsec_file(self.dynsec_file, DYNSEC_ADMIN[0], DYNSEC_ADMIN[1])
            lines += [
                "allow_anonymous false",
                f"plugin {find_dynsec_plugin()}",
                f"plugin_opt_config_file {self.dynsec_file}",
            ]
            self._provisioned = False
        elif self.passwords:
            pwfile = self.workdir / "passwd"
            pwfile.write_text("")
            for user, pw in self.passwords.items():
                subprocess.run([MOSQUITTO_PASSWD, "-b", str(pwfile), user, pw], check=True)
            lines += ["allow_anonymous false", f"password_file {pwfile}"]
        else:
            lines.append("allow_anonymous true")
        if self.acl is not None:
            (self.workdir / "acl").write_text(self.acl)
            lines.append(f"acl_file {self.workdir / 'acl'}")
        if self.tls:
            self.cafile = make_test_ca(self.workdir)
            lines += [
                f"cafile {self.cafile}",
                f"certfile {self.workdir / 'server.crt'}",
                f"keyfile {self.workdir / 'server.key'}",
            ]
        if self.extra:
            lines.append(self.extra)
        self.conf = self.workdir / "mosquitto.conf"
        self.conf.write_text("\n".join(lines) + "\n")

    def start(self) -> Broker:
        self.proc = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            wait_port(self.host, self.port)
        except TimeoutError:
            self.proc.kill()
            err = self.proc.stderr.read().decode() if self.proc.stderr else ""
            log = (
                (self.workdir / "mosquitto.log").read_text()
                if (self.workdir / "mosquitto.log").exists()
                else ""
            )
            raise RuntimeError(f"mosquitto did not start: {err} {log}") from None
        if self.dynsec_acl is not None and not self._provisioned:
            self.provision(self.passwords or {})
            self._provisioned = True  # the plugin keeps them in its file across restarts
        return self

    def provision(self, passwords: dict[str, str]) -> None:
        """Create dynsec logins: ``user`` blocks of the ACL as service users, others as
        devices (what `central broker user` / `central device add` print)."""
        from jaywatch.broker_acl import apply_commands, device_commands, parse_acl, user_commands

        assert self.dynsec_acl is not None
        acl = parse_acl(self.dynsec_acl)
        cmds = []
        for user, pw in passwords.items():
            make = user_commands if user in acl.users else device_commands
            cmds += make(acl, user, pw)
        apply_commands(
            cmds,
            host=self.host,
            port=self.port,
            admin_user=DYNSEC_ADMIN[0],
            admin_password=DYNSEC_ADMIN[1],
            cafile=str(self.cafile) if self.cafile else None,
        )

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def kill(self) -> None:
        """SIGKILL: the broker loses what it had not saved (autosave is 1 s)."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None

    def restart(self, down_s: float = 0.0) -> None:
        self.stop()
        time.sleep(down_s)
        self.start()


def make_test_ca(d: Path) -> Path:
    """A throwaway CA and a server certificate for 127.0.0.1/localhost (cryptography)."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "jaywatch test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    (d / "ca.crt").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (d / "server.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (d / "server.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    return d / "ca.crt"


# --- PostgreSQL ---------------------------------------------------------------------------

DEFAULT_PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def pg_admin_url() -> str:
    """Admin URL of the test PostgreSQL server (env JAYWATCH_TEST_PG_URL overrides).

    scripts/test.sh (and so CI) sets it to a throwaway cluster it starts and stops
    (scripts/services.sh) unless it is already set; plain pytest without it uses
    127.0.0.1:5432. A test run without a server fails loudly rather than skipping.
    """
    return os.environ.get("JAYWATCH_TEST_PG_URL", DEFAULT_PG_ADMIN_URL)


@contextlib.contextmanager
def fresh_pg_database(admin_url: str) -> Iterator[str]:
    """Create an empty database, yield its SQLAlchemy URL, drop it afterwards."""
    import sqlalchemy as sa

    name = f"jw_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as c:
            c.execute(sa.text(f'CREATE DATABASE "{name}"'))
        url = sa.engine.make_url(admin_url).set(database=name)
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as c:
            c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


PAYMENTS_WEBHOOK_SECRET = b"payments-webhook-secret-for-tests-0123"


def example_payments(cfg: dict, tmp: Path, api_url: str | None = None) -> dict:
    """config/central.example.yaml's ``payments`` section with its webhook secret in a
    file of this test (mode 0600) and, if given, the provider's API at ``api_url``."""
    secret = tmp / "payments-webhook.secret"
    tmp.mkdir(parents=True, exist_ok=True)
    secret.write_bytes(PAYMENTS_WEBHOOK_SECRET + b"\n")
    secret.chmod(0o600)
    cfg["payments"]["provider"]["webhook_secret_file"] = str(secret)
    if api_url is not None:
        cfg["payments"]["provider"]["api_url"] = api_url
    return cfg
