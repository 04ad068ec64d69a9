"""Demo provider: the SMS goes to the log, and counts as delivered at once."""

from __future__ import annotations

import logging
import uuid

from central.notices.providers.base import DELIVERED, DeliveryReceipt, Submission

log = logging.getLogger("jaywatch.sms")


class LogProvider:
    name = "log"
    idempotent = True  # nothing leaves the machine, so repeating is harmless

    def __init__(self) -> None:
        self._receipts: list[DeliveryReceipt] = []

    def submit(self, to_e164: str, text: str, idempotency_key: str) -> Submission:
        mid = f"log-{idempotency_key}-{uuid.uuid4().hex[:8]}"
        log.info("SMS to %s [%s]: %s", to_e164, mid, text)
        self._receipts.append(DeliveryReceipt(message_id=mid, state=DELIVERED))
        return Submission(message_ids=[mid])

    def poll_receipts(self, timeout_s: float) -> list[DeliveryReceipt]:
        out, self._receipts = self._receipts, []
        return out

    def close(self) -> None:
        pass
