"""Actors, errors and the rules every workflow function needs."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field

from central.config import AppealSettings, ReviewSettings, ScoreSettings
from central.fines import FineSchedule


class WorkflowError(Exception):
    """A request the domain refuses; the message says why."""


class NotFound(WorkflowError):
    pass


class Conflict(WorkflowError):
    """The record is not in a state that allows this action."""


class Forbidden(WorkflowError):
    pass


@dataclass(frozen=True)
class Actor:
    """Who acts: a user (with one role), a citizen holding a notice, or the system."""

    name: str
    role: str  # operator | supervisor | auditor | admin | citizen | system
    user_id: int | None = None

    @property
    def label(self) -> str:
        return f"{self.role}:{self.name}"


SYSTEM = Actor(name="system", role="system")


def require_role(actor: Actor, *roles: str) -> None:
    if actor.role not in roles:
        raise Forbidden(f"{actor.label} may not do this (needs one of: {', '.join(roles)})")


@dataclass(frozen=True)
class Rules:
    schedule: FineSchedule
    score: ScoreSettings
    default_region: str = "GB"
    appeals: AppealSettings = field(default_factory=AppealSettings)
    review: ReviewSettings = field(default_factory=ReviewSettings)


def hash_code(code: str) -> str:
    return hashlib.sha256(code.strip().upper().encode()).hexdigest()


_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I


def random_code(n: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(n))
