"""Opening a notice with its reference and access code: the one door the citizen page
(central/web/citizen.py) and the public API (central/api/public.py) share.

No enumeration: an unknown reference and a wrong code are one answer, and every failed
attempt takes at least :data:`FAIL_MIN_S`, whatever failed (an implausible value is
refused without touching the database, so it must wait too). Rate limiting is the HTTP
layer's (central/frontdoor: one budget for both doors).
"""

from __future__ import annotations

import re
import time

from sqlalchemy.orm import Session, sessionmaker

from central.store.models import Fine
from central.workflow import sanctions
from central.workflow.common import Actor

FAIL_MIN_S = 0.35
# References and codes are short runs of letters, digits and dashes; anything else (NUL,
# quotes, 10 kB of text) is simply a wrong reference — and never reaches the database.
_PLAUSIBLE = re.compile(r"[A-Za-z0-9-]{1,32}")


def plausible(value: str) -> bool:
    """
    >>> plausible("JW-2026-000123"), plausible("x' OR 1=1 --"), plausible("")
    (True, False, False)
    """
    return _PLAUSIBLE.fullmatch(value) is not None


def holder(reference: str) -> Actor:
    """The actor for the holder of notice ``reference`` (audit label ``citizen:<ref>``)."""
    return Actor(name=reference, role="citizen")


def open_notice(sessions: sessionmaker[Session], reference: str, code: str) -> Fine | None:
    """The fine whose notice this reference and code open (read in a short session of its
    own, returned detached), else None after the minimum failure time — waited with no
    database connection held, so a flood of wrong codes cannot drain the pool."""
    started = time.monotonic()
    fine = None
    if plausible(reference) and plausible(code):
        with sessions() as s:
            fine = sanctions.check_access_code(s, reference, code)
    if fine is None:
        time.sleep(max(0.0, FAIL_MIN_S - (time.monotonic() - started)))
    return fine
