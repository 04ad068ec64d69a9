"""SMPP 3.4 provider (smpplib): one transceiver bind for submit_sm and receipts.

SMPP has no idempotency key: once a submit_sm has left, only its submit_sm_resp
says whether the SMSC took it. So this provider reports ``idempotent = False`` and
raises :class:`MaybeSent` whenever a PDU left without its answer coming back.
Before each SMS the link is proved alive with enquire_link, so a connection the
SMSC dropped while idle is replaced instead of swallowing a submit_sm.
"""

from __future__ import annotations

import logging
import re
import select
import time
from typing import Any

import smpplib.client
import smpplib.exceptions
from smpplib import smpp

from central.notices.config import SmppSettings
from central.notices.encoding import EncodedSms, MessageTooLong, encode_sms
from central.notices.providers.base import (
    DELIVERED,
    ENROUTE,
    UNDELIVERABLE,
    DeliveryReceipt,
    MaybeSent,
    NotSent,
    Submission,
)

log = logging.getLogger(__name__)

# submit_sm_resp statuses that retrying the same message cannot fix.
_PERMANENT = {
    0x01: "invalid message length",
    0x0A: "invalid source address",
    0x0B: "invalid destination address",
    0x61: "invalid scheduled delivery time",
    0x62: "invalid validity period",
    0x66: "destination flag is invalid",
}
_THROTTLED = {0x58, 0x14}  # ESME_RTHROTTLED, ESME_RMSGQFUL: try again shortly
_STAT = {
    "DELIVRD": DELIVERED,
    "ENROUTE": ENROUTE,
    "ACCEPTD": ENROUTE,
    "UNKNOWN": ENROUTE,
    "UNDELIV": UNDELIVERABLE,
    "EXPIRED": "expired",
    "REJECTD": "rejected",
    "DELETED": "deleted",
}
# SMPP 3.4 §5.2.28 message_state values.
_MESSAGE_STATE = {
    1: ENROUTE,
    2: DELIVERED,
    3: "expired",
    4: "deleted",
    5: UNDELIVERABLE,
    6: ENROUTE,
    7: ENROUTE,
    8: "rejected",
}
_RECEIPT_RE = re.compile(rb"id:(\S+).*?stat:(\w+)(?:.*?err:(\w+))?", re.S)
_SocketErrors = (smpplib.exceptions.ConnectionError, OSError)


def _text(v: Any) -> str:
    return v.decode("ascii", "replace").rstrip("\0") if isinstance(v, bytes) else str(v)


def parse_receipt(pdu: Any) -> DeliveryReceipt | None:
    """A deliver_sm that is a delivery receipt (esm_class bit 2) → receipt, else None."""
    if not (int(getattr(pdu, "esm_class", 0) or 0) & 0x04):
        return None
    body = getattr(pdu, "short_message", b"") or b""
    m = _RECEIPT_RE.search(body if isinstance(body, bytes) else body.encode())
    mid = getattr(pdu, "receipted_message_id", None)
    state_code = getattr(pdu, "message_state", None)
    message_id = _text(mid) if mid else (_text(m.group(1)) if m else None)
    if state_code is not None and int(state_code) in _MESSAGE_STATE:
        state = _MESSAGE_STATE[int(state_code)]
    elif m:
        state = _STAT.get(_text(m.group(2)).upper(), ENROUTE)
    else:
        return None
    if not message_id:
        return None
    err = _text(m.group(3)) if m and m.group(3) else None
    return DeliveryReceipt(message_id=message_id, state=state, error=err)


class SmppProvider:
    name = "smpp"
    idempotent = False

    def __init__(self, settings: SmppSettings, max_parts: int = 6) -> None:
        self.settings = settings
        self.max_parts = max_parts
        self._client: smpplib.client.Client | None = None
        self._resps: dict[int, tuple[int, str | None]] = {}
        self._links: set[int] = set()
        self._receipts: list[DeliveryReceipt] = []

    # -- connection ---------------------------------------------------------------
    def _connect(self) -> smpplib.client.Client:
        s = self.settings
        c = smpplib.client.Client(
            s.host, s.port, timeout=s.timeout_s, allow_unknown_opt_params=True
        )
        try:
            c.connect()
            c.bind_transceiver(
                system_id=s.system_id, password=s.password, system_type=s.system_type
            )
        except (smpplib.exceptions.PDUError, *_SocketErrors) as e:
            self._drop(c)
            raise NotSent(
                f"SMPP bind to {s.host}:{s.port} failed: {e or type(e).__name__}"
            ) from None
        log.info("SMPP bound to %s:%s as %s", s.host, s.port, s.system_id)
        return c

    @staticmethod
    def _drop(c: smpplib.client.Client | None) -> None:
        if c is not None and c._socket is not None:
            try:
                c.disconnect()
            except Exception:
                c._socket = None

    def _disconnect(self) -> None:
        self._drop(self._client)
        self._client = None

    def close(self) -> None:
        c = self._client
        if c is None:
            return
        try:
            c.send_pdu(smpp.make_pdu("unbind", client=c))
            deadline = time.monotonic() + 1.0
            while c._socket is not None and time.monotonic() < deadline:
                if not self._read(c, deadline - time.monotonic()):
                    break
        except (smpplib.exceptions.PDUError, *_SocketErrors):
            pass
        self._disconnect()

    # -- PDU pump -----------------------------------------------------------------
    def _read(self, c: smpplib.client.Client, timeout_s: float) -> bool:
        """Handle at most one inbound PDU; False if none arrived within ``timeout_s``."""
        ready, _, _ = select.select([c._socket], [], [], max(0.0, timeout_s))
        if not ready:
            return False
        pdu = c.read_pdu()
        cmd, seq = pdu.command, pdu.sequence
        if cmd == "submit_sm_resp" or cmd == "generic_nack":
            mid = getattr(pdu, "message_id", None)
            self._resps[seq] = (int(pdu.status), _text(mid) if mid else None)
        elif cmd == "deliver_sm":
            receipt = parse_receipt(pdu)
            if receipt is not None:
                self._receipts.append(receipt)
            resp = smpp.make_pdu("deliver_sm_resp", client=c)
            resp.sequence = seq
            c.send_pdu(resp)
        elif cmd == "enquire_link":
            resp = smpp.make_pdu("enquire_link_resp", client=c)
            resp.sequence = seq
            c.send_pdu(resp)
        elif cmd == "enquire_link_resp":
            self._links.add(seq)
        elif cmd == "unbind":
            resp = smpp.make_pdu("unbind_resp", client=c)
            resp.sequence = seq
            c.send_pdu(resp)
            raise smpplib.exceptions.ConnectionError("SMSC unbound")
        elif cmd == "unbind_resp":
            self._drop(c)
        return True

    def _await(self, c: smpplib.client.Client, done: Any, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while not done():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self._read(c, left)
        return True

    def _live_client(self) -> smpplib.client.Client:
        """The bound client, proved alive by an enquire_link round trip; else rebind."""
        c = self._client
        if c is not None:
            try:
                p = smpp.make_pdu("enquire_link", client=c)
                c.send_pdu(p)
                if self._await(c, lambda: p.sequence in self._links, self.settings.timeout_s):
                    return c
            except (smpplib.exceptions.PDUError, *_SocketErrors):
                pass
            log.info("SMPP link lost; rebinding")
            self._disconnect()
        self._client = self._connect()
        return self._client

    # -- interface ----------------------------------------------------------------
    def submit(self, to_e164: str, text: str, idempotency_key: str) -> Submission:
        try:
            enc = encode_sms(text, self.max_parts, idempotency_key)
        except MessageTooLong as e:
            raise NotSent(str(e), permanent=True) from None
        c = self._live_client()
        s = self.settings
        ids: list[str] = []
        for i, part in enumerate(enc.parts):
            for retry in range(s.throttle_retries + 1):
                status, mid = self._submit_part(c, to_e164, part, enc, i, ids)
                if status not in _THROTTLED or retry == s.throttle_retries:
                    break
                # A refused PDU was not accepted: resending this part alone is safe,
                # and keeps the parts already accepted from being orphaned.
                time.sleep(s.throttle_pause_s * 2**retry)
            if status != 0 or not mid:
                why = _PERMANENT.get(status, f"command_status 0x{status:02X}")
                if ids:
                    raise MaybeSent(
                        f"SMSC refused part {i + 1} after accepting {len(ids)}: {why}", ids
                    )
                raise NotSent(f"SMSC refused the message: {why}", permanent=status in _PERMANENT)
            ids.append(mid)
        return Submission(message_ids=ids, encoding=enc.encoding)

    def _submit_part(
        self,
        c: smpplib.client.Client,
        to_e164: str,
        part: bytes,
        enc: EncodedSms,
        i: int,
        ids: list[str],
    ) -> tuple[int, str | None]:
        """One submit_sm and its answer: (command_status, message_id), or raise."""
        s = self.settings
        try:
            pdu = c.send_message(
                source_addr_ton=s.source_addr_ton,
                source_addr_npi=s.source_addr_npi,
                source_addr=s.source_addr,
                dest_addr_ton=1,  # international
                dest_addr_npi=1,  # E.164
                destination_addr=to_e164.lstrip("+"),
                short_message=part,
                data_coding=enc.data_coding,
                esm_class=enc.esm_class,
                registered_delivery=1 if s.registered_delivery else 0,
            )
        except _SocketErrors as e:
            self._disconnect()
            if not ids:  # the first PDU never left: nothing can have been sent
                raise NotSent(f"SMPP send failed: {e or type(e).__name__}") from None
            raise MaybeSent(f"SMPP link lost after part {i}/{len(enc.parts)}", ids) from None
        seq = pdu.sequence
        try:
            got = self._await(c, lambda: seq in self._resps, s.timeout_s)
        except (smpplib.exceptions.PDUError, *_SocketErrors) as e:
            self._disconnect()
            raise MaybeSent(
                f"SMPP link lost awaiting submit_sm_resp of part {i + 1}: {e}", ids
            ) from None
        if not got:
            self._disconnect()
            raise MaybeSent(f"no submit_sm_resp for part {i + 1} within {s.timeout_s}s", ids)
        return self._resps.pop(seq)

    def poll_receipts(self, timeout_s: float) -> list[DeliveryReceipt]:
        c = self._client
        if c is not None:
            deadline = time.monotonic() + timeout_s
            try:
                while time.monotonic() < deadline and self._client is not None:
                    if not self._read(c, deadline - time.monotonic()):
                        break
            except (smpplib.exceptions.PDUError, *_SocketErrors):
                self._disconnect()
        elif timeout_s > 0:
            time.sleep(timeout_s)
        out, self._receipts = self._receipts, []
        return out
