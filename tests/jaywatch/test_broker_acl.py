"""jaywatch/broker_acl.py: the shipped ACL file turned into dynamic-security commands.
(That the commands really do what they say on a real mosquitto is in
tests/integration/test_broker_attacks.py and tests/central/test_device_credentials.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from jaywatch.broker_acl import AclError, device_commands, load_acl, parse_acl, user_commands

ACL_FILE = Path(__file__).resolve().parents[2] / "config" / "mosquitto" / "jaywatch.acl"


def _grants(cmds: list) -> set[tuple[str, str, bool]]:
    return {
        (c.body["acltype"], c.body["topic"], c.body["allow"])
        for c in cmds
        if c.body["command"] == "addRoleACL"
    }


def test_a_device_gets_its_patterns_and_no_share_central_gets_share() -> None:
    acl = load_acl(ACL_FILE)
    dev = device_commands(acl, "gw-9", "pw")
    g = _grants(dev)
    assert ("publishClientSend", "jaywatch/v1/gw-9/violation", True) in g
    assert ("subscribePattern", "jaywatch/v1/gw-9/ack", True) in g
    # Its own camera snapshots (issue 17), nobody else's; it cannot read any back.
    assert ("publishClientSend", "jaywatch/v1/gw-9/snapshot", True) in g
    assert not any("snapshot" in t for kind, t, _ in g if kind != "publishClientSend")
    assert not any("$share" in t or "%u" in t or "+" in t for _, t, _ in g)
    create = next(c for c in dev if c.body["command"] == "createClient")
    assert create.body["clientid"] == "gw-9"  # the login is bound to its client id
    central = user_commands(acl, "central", "pw")
    assert ("subscribePattern", "$share/+/jaywatch/v1/+/violation", True) in _grants(central)
    assert ("subscribePattern", "$share/+/jaywatch/v1/+/snapshot", True) in _grants(central)
    create = next(c for c in central if c.body["command"] == "createClient")
    assert "clientid" not in create.body  # several workers, one login


def test_a_user_block_named_like_a_device_adds_to_that_device() -> None:
    acl = parse_acl("user gw-1\ntopic read jaywatch/v1/signal/elm/phase\npattern write a/%u\n")
    g = _grants(device_commands(acl, "gw-1", None))
    assert ("subscribePattern", "jaywatch/v1/signal/elm/phase", True) in g
    assert ("publishClientSend", "a/gw-1", True) in g
    assert not any("$share" in t for _, t, _ in g)


def test_deny_rules_refuse_with_priority() -> None:
    acl = parse_acl("pattern deny secret/#\n")
    cmds = [c for c in device_commands(acl, "gw-1", None) if c.body["command"] == "addRoleACL"]
    assert cmds and all(c.body["allow"] is False and c.body["priority"] == 10 for c in cmds)


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("topic read a/b\n", "x.acl:1: 'topic' before any 'user' line"),
        ("user central\ntopic sometimes a/b\n", "x.acl:2: expected 'topic [read|"),
        ("user a b\n", "x.acl:1: expected 'user NAME'"),
        ("frobnicate a\n", "x.acl:1: expected user, topic or pattern"),
    ],
)
def test_a_bad_line_names_the_file_and_line(text: str, where: str) -> None:
    with pytest.raises(AclError) as e:
        parse_acl(text, "x.acl")
    assert str(e.value).startswith(where)


@pytest.mark.parametrize("bad", ["central-1", "Central", "a/b", "+", "x" * 65, ""])
def test_device_ids_that_would_collide_or_smuggle_topics_are_refused(bad: str) -> None:
    with pytest.raises(AclError):
        device_commands(load_acl(ACL_FILE), bad, None)


def test_unknown_service_user_is_named() -> None:
    with pytest.raises(AclError, match="user 'nobody': not in the ACL file"):
        user_commands(load_acl(ACL_FILE), "nobody", None)
