"""The demo's fallback broker: amqtt (pure Python, MQTT 3.1.1 only) on a loopback port.

For ``jaywatch demo`` on a machine without mosquitto, and for the tests of that path —
never for a deployment. What it lacks, compared with the mosquitto a deployment runs:
no MQTT 5 (so no ``$share`` shared subscriptions: one central ingest worker only), no
TLS here, **no topic ACL** (any logged-in client may publish or read any topic), and
QoS 1 messages queued for a subscriber can be lost when it reconnects. The application
stays correct anyway because it acknowledges end to end: the edge outbox resends each
event until central's signed ack arrives and central deduplicates by event id.

Usernames and passwords ARE checked (argon2 hashes in a file), like the demo's mosquitto.

Run as ``python -m jaywatch_app.embedded_broker CONFIG.yaml`` (see :func:`write_config`);
it serves until SIGTERM/SIGINT.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path


def write_config(d: Path, port: int, passwords: dict[str, str]) -> Path:
    """amqtt's YAML config in ``d``: one loopback listener, password file auth (no
    anonymous logins), no ``$SYS`` topics. Returns the config's path."""
    import yaml
    from pwdlib import PasswordHash
    from pwdlib.hashers.argon2 import Argon2Hasher

    d.mkdir(parents=True, exist_ok=True)
    hasher = PasswordHash((Argon2Hasher(),))
    pwfile = d / "amqtt.passwd"
    pwfile.write_text("".join(f"{u}:{hasher.hash(p)}\n" for u, p in passwords.items()))
    pwfile.chmod(0o600)
    cfg = {
        "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
        "plugins": {
            "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": False},
            "amqtt.plugins.authentication.FileAuthPlugin": {"password_file": str(pwfile)},
        },
    }
    conf = d / "amqtt.yaml"
    conf.write_text(yaml.safe_dump(cfg))
    return conf


async def serve(config_path: Path) -> None:
    """Run the broker until SIGTERM or SIGINT."""
    import yaml
    from amqtt.broker import Broker

    broker = Broker(yaml.safe_load(config_path.read_text()))
    await broker.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    with contextlib.suppress(Exception):  # stopping anyway; a noisy shutdown helps nobody
        await broker.shutdown()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m jaywatch_app.embedded_broker CONFIG.yaml", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    asyncio.run(serve(Path(args[0])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
