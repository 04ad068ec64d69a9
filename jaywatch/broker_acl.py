"""The broker's access rules: config/mosquitto/jaywatch.acl, applied by mosquitto 2's
dynamic-security plugin (dynsec).

The ACL file stays the one place that says who may read and write which topic, in
mosquitto's ``acl_file`` syntax. mosquitto's own ``acl_file`` cannot enforce two things
a hostile device must not do, so the shipped broker config loads dynsec instead and this
module turns the file into dynsec roles and clients (``mosquitto_ctrl`` commands):

* ``acl_file`` never checks a SUBSCRIBE (mosquitto 2.0.11 grants every one and filters
  at delivery). A device subscribing to ``$share/central/jaywatch/v1/+/violation`` joins
  central's shared group; the broker hands it its share of the events and then drops
  them (ACL) — they are lost. dynsec checks subscriptions: a device gets no ``$share/``
  grant at all, and only ``user`` blocks (central) get ``$share/+/<topic>`` for their
  ``read`` topics.
* With passwords alone any user may log in under any client id, and a second
  connection with central's id kicks central off the broker (and takes its session).
  dynsec binds each device's login to the client id = its username: any other id is
  refused at CONNECT, so no device can take central's or another device's session.
  Central's users are not bound: several ingest workers log in as ``central``, each
  with its own ``mqtt.client_id`` (its own persistent session) in one ``$share`` group.

The file's meaning: a ``user NAME`` block lists that user's rules — a service user
(central, the signal bridge) when applied with ``user_commands``, or extra rules of one
device when NAME is a device id; ``pattern`` rules are the DEVICE rules, instantiated
per device with ``%u`` (and ``%c``, the same value since client id = username) replaced
by the device id — dynsec in mosquitto 2.0 has no such substitution, so every device
gets a role of its own. ``read`` grants
subscribe + receive, ``write`` publish, ``readwrite`` both, ``deny`` refuses all three.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

ACCESS = ("read", "write", "readwrite", "deny")
# Device ids (jaywatch.wire DeviceId) and broker usernames: no wildcard, no topic level.
NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
USER_ROLE = "jw-user-{}"
DEVICE_ROLE = "jw-device-{}"


class AclError(ValueError):
    """A line of the ACL file that cannot be applied; names the file and the line."""


@dataclass(frozen=True)
class Rule:
    access: str
    topic: str


@dataclass
class Acl:
    users: dict[str, list[Rule]] = field(default_factory=dict)
    patterns: list[Rule] = field(default_factory=list)


def parse_acl(text: str, source: str = "jaywatch.acl") -> Acl:
    """The ``user``/``topic``/``pattern`` lines of a mosquitto ACL file."""
    acl = Acl()
    current: list[Rule] | None = None
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        kind, _, rest = line.partition(" ")
        words = rest.split()
        where = f"{source}:{n}"
        if kind == "user":
            if len(words) != 1 or not NAME.match(words[0]):
                raise AclError(f"{where}: expected 'user NAME' with NAME of [A-Za-z0-9_.-]")
            current = acl.users.setdefault(words[0], [])
            continue
        if kind not in ("topic", "pattern"):
            raise AclError(f"{where}: expected user, topic or pattern, got {kind!r}")
        access, topic = ("readwrite", words[0]) if len(words) == 1 else (words[0], words[-1])
        if len(words) not in (1, 2) or access not in ACCESS:
            raise AclError(f"{where}: expected '{kind} [{'|'.join(ACCESS)}] TOPIC'")
        if kind == "pattern":
            acl.patterns.append(Rule(access, topic))
        elif current is None:
            raise AclError(f"{where}: 'topic' before any 'user' line (anonymous rules are off)")
        else:
            current.append(Rule(access, topic))
    return acl


def load_acl(path: Path | str) -> Acl:
    p = Path(path)
    try:
        return parse_acl(p.read_text(), str(p))
    except OSError as e:
        raise AclError(f"{p}: cannot read the ACL file: {e.strerror}") from None


def _role_acls(rules: list[Rule], *, shared: bool) -> list[tuple[str, str, bool]]:
    """(dynsec acltype, topic, allow) for rules; ``shared`` adds ``$share/+/`` for reads."""
    out: list[tuple[str, str, bool]] = []
    for r in rules:
        allow = r.access != "deny"
        if r.access in ("read", "readwrite", "deny"):
            out += [("subscribePattern", r.topic, allow), ("publishClientReceive", r.topic, allow)]
            if shared and allow:
                out.append(("subscribePattern", f"$share/+/{r.topic}", True))
        if r.access in ("write", "readwrite", "deny"):
            out.append(("publishClientSend", r.topic, allow))
    return out


def _device_rules(acl: Acl, device_id: str) -> list[Rule]:
    return [
        Rule(r.access, r.topic.replace("%u", device_id).replace("%c", device_id))
        for r in acl.patterns
    ]


@dataclass(frozen=True)
class Command:
    """One dynsec control command, as ``mosquitto_ctrl dynsec`` arguments (``argv``) and
    as the JSON the plugin takes on ``$CONTROL/dynamic-security/v1`` (``body``)."""

    argv: tuple[str, ...]
    body: dict[str, object]


def _create_role(role: str) -> Command:
    return Command(("createRole", role), {"command": "createRole", "rolename": role})


def _add_acl(role: str, acltype: str, topic: str, allow: bool, priority: int) -> Command:
    argv = ("addRoleACL", role, acltype, topic, "allow" if allow else "deny", str(priority))
    body = {
        "command": "addRoleACL",
        "rolename": role,
        "acltype": acltype,
        "topic": topic,
        "allow": allow,
        "priority": priority,
    }
    return Command(argv, body)


def _create_client(username: str, password: str | None, clientid: str | None) -> Command:
    argv: tuple[str, ...] = ("createClient", username)
    body: dict[str, object] = {"command": "createClient", "username": username}
    if clientid is not None:
        argv += ("-c", clientid)
        body["clientid"] = clientid
    if password is not None:  # without one mosquitto_ctrl asks for it
        argv += ("-p", password)
        body["password"] = password
    return Command(argv, body)


def _add_client_role(username: str, role: str) -> Command:
    return Command(
        ("addClientRole", username, role),
        {"command": "addClientRole", "username": username, "rolename": role},
    )


def _role_commands(role: str, acls: list[tuple[str, str, bool]]) -> list[Command]:
    # Denials get the higher priority: dynsec tries a role's ACLs highest first.
    return [_create_role(role)] + [
        _add_acl(role, acltype, topic, allow, 0 if allow else 10) for acltype, topic, allow in acls
    ]


PLUGIN_GLOBS = (
    "/usr/lib/*/mosquitto_dynamic_security.so",
    "/usr/lib/mosquitto_dynamic_security.so",
)


def find_dynsec_plugin() -> str | None:
    """Debian's plugin file (its directory names the architecture), or None."""
    import glob

    for pattern in PLUGIN_GLOBS:
        found = sorted(glob.glob(pattern))
        if found:
            return found[0]
    return None


def init_dynsec_file(
    path: Path | str, admin_user: str, admin_password: str, ctrl: str = "mosquitto_ctrl"
) -> None:
    """A new dynsec file (``mosquitto_ctrl dynsec init``, 0600) made strict before the
    broker first reads it: nothing is delivered that a role does not grant, and the
    dynsec admin — which ``init`` lets read every topic — keeps only what managing the
    broker needs (it is no reader of faces). Done offline: changed on a running broker,
    both settings disconnect every client (the admin too)."""
    import json
    import os
    import subprocess

    p = Path(path)
    if p.exists():
        raise AclError(f"{p}: already exists (it holds the broker's logins; not replaced)")
    r = subprocess.run(
        [ctrl, "dynsec", "init", str(p), admin_user, admin_password],
        capture_output=True,
        text=True,
    )
    if r.returncode != 0 or not p.exists():
        raise AclError(f"{p}: mosquitto_ctrl dynsec init failed: {(r.stderr or r.stdout).strip()}")
    data = json.loads(p.read_text())
    data["defaultACLAccess"]["publishClientReceive"] = False
    for role in data["roles"]:
        if role["rolename"] == "admin":
            role["acls"] = [
                a
                for a in role["acls"]
                if not (a["topic"] == "#" and a["acltype"] != "unsubscribePattern")
            ]
    tmp = p.with_name(p.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=1)
    os.replace(tmp, p)
    p.chmod(0o600)


def user_commands(acl: Acl, username: str, password: str | None) -> list[Command]:
    """dynsec commands for a service user of a ``user`` block (e.g. ``central``): its role
    with ``$share/+/`` reads, and a login NOT bound to a client id (several workers)."""
    if username not in acl.users:
        raise AclError(f"user {username!r}: not in the ACL file (users: {sorted(acl.users)})")
    role = USER_ROLE.format(username)
    return [
        *_role_commands(role, _role_acls(acl.users[username], shared=True)),
        _create_client(username, password, None),
        _add_client_role(username, role),
    ]


# Central's logins and client ids (central-1, central-1-display, …): no device may be
# named so, or its bound client id would collide with a central worker's session.
RESERVED_PREFIX = "central"


def device_commands(acl: Acl, device_id: str, password: str | None) -> list[Command]:
    """dynsec commands for one gateway: its own role (the pattern rules with its id, plus
    the rules of a ``user <device id>`` block if the file has one, e.g. another site's
    phases), a login whose client id must be the device id, no ``$share/`` grant."""
    if not NAME.match(device_id):
        raise AclError(f"device id {device_id!r}: expected 1-64 of [A-Za-z0-9_.-]")
    if device_id.lower().startswith(RESERVED_PREFIX):
        raise AclError(f"device id {device_id!r}: names starting {RESERVED_PREFIX!r} are central's")
    role = DEVICE_ROLE.format(device_id)
    rules = _device_rules(acl, device_id) + acl.users.get(device_id, [])
    return [
        *_role_commands(role, _role_acls(rules, shared=False)),
        _create_client(device_id, password, device_id),
        _add_client_role(device_id, role),
    ]


def shell_lines(commands: list[Command]) -> list[str]:
    """``mosquitto_ctrl dynsec …`` lines; connection options (-h, -p, --cafile, -u for
    the dynsec admin) come from mosquitto_ctrl's own config file or are added by hand."""
    return [shlex.join(["mosquitto_ctrl", "dynsec", *c.argv]) for c in commands]


CONTROL_TOPIC = "$CONTROL/dynamic-security/v1"


def apply_commands(
    commands: list[Command],
    *,
    host: str,
    port: int,
    admin_user: str,
    admin_password: str,
    cafile: str | None = None,
    timeout: float = 15.0,
) -> None:
    """Send ``commands`` to a running broker's dynsec plugin in ONE control message (what
    ``mosquitto_ctrl`` does one command per connection); raises AclError naming every
    command the plugin refused."""
    import json
    import secrets
    import threading

    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    if not commands:
        return
    got: list[dict[str, object]] = []
    done, subscribed = threading.Event(), threading.Event()
    c = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"jaywatch-dynsec-{secrets.token_hex(4)}",
        protocol=mqtt.MQTTv5,
    )
    c.username_pw_set(admin_user, admin_password)
    if cafile:
        c.tls_set(ca_certs=cafile)

    def on_message(_c: object, _u: object, m: mqtt.MQTTMessage) -> None:
        got.extend(json.loads(m.payload).get("responses", []))
        if len(got) >= len(commands):
            done.set()

    c.on_message = on_message
    c.on_subscribe = lambda *_a: subscribed.set()
    c.on_connect = lambda cl, _u, _f, rc, _p: (
        None if rc.is_failure else cl.subscribe(f"{CONTROL_TOPIC}/response", qos=1)
    )
    c.connect(host, port)
    c.loop_start()
    try:
        if not subscribed.wait(timeout):
            raise AclError(f"dynsec admin {admin_user!r} could not log in to {host}:{port}")
        c.publish(CONTROL_TOPIC, json.dumps({"commands": [x.body for x in commands]}), qos=1)
        if not done.wait(timeout):
            raise AclError(f"no answer from the dynsec plugin at {host}:{port} in {timeout}s")
    finally:
        c.disconnect()
        c.loop_stop()
    errors = [f"{r.get('command')}: {r['error']}" for r in got if r.get("error")]
    if errors:
        unique = sorted(set(errors), key=errors.index)
        raise AclError(
            f"dynsec refused {len(errors)} of {len(commands)} commands: " + "; ".join(unique)
        )
