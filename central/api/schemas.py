"""Request and response bodies of the API (pydantic, so OpenAPI documents them)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator

Reason = Literal[
    "not_a_violation", "wrong_person", "poor_evidence", "signal_fault", "exempt", "other"
]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FromAttributes(BaseModel):
    """A response read from an ORM row or a workflow view (``Model.model_validate(obj)``)."""

    model_config = ConfigDict(from_attributes=True)


class LoginIn(Body):
    username: str = Field(max_length=64)
    password: str = Field(max_length=1024)


class LoginOut(BaseModel):
    token: str
    csrf_token: str
    expires: datetime
    role: str


class EventOut(FromAttributes):
    """Built from a ``review.ReviewItem`` (``EventOut.of(item, verdict)``)."""

    event_id: str
    device_id: str
    camera_id: str
    occurred: datetime
    received: datetime
    offence_code: str
    status: str
    match_person_id: str | None
    match_score: float | None
    evidence: list[str]  # roles, in order; fetch /api/events/{id}/evidence/{n}
    signal: dict
    # Re-checked on this read (GET /api/events/{id}); None where not checked (the queue).
    evidence_altered: bool | None = None
    evidence_problems: list[str] = []
    # Four-eyes: the first confirmation's operator (status second_review); the final
    # confirmation's operator and the end of its undo window (status confirming).
    first_confirmed_by: str | None = None
    final_confirmed_by: str | None = None
    undo_until: datetime | None = None

    @field_validator("evidence", mode="before")
    @classmethod
    def _roles(cls, v: Any) -> Any:
        # ReviewItem.evidence holds (role, sha256) pairs; the API shows the roles only.
        return [e[0] if isinstance(e, tuple) else e for e in v]

    @classmethod
    def of(cls, item: Any, verdict: Any = None, **extra: Any) -> Self:
        """``item`` a ``review.ReviewItem``; ``verdict`` the ``integrity.Verdict`` of this
        read (None: not checked)."""
        if extra:  # a subclass's own fields (QuarantinedOut.reason)
            out = cls.model_validate(EventOut.model_validate(item).model_dump() | extra)
        else:
            out = cls.model_validate(item)
        if verdict is not None:
            out.evidence_altered = not verdict.ok
            out.evidence_problems = list(verdict.problems)
        return out


class CandidateOut(FromAttributes):
    """One of the matcher's runner-ups (a ``runner_ups.Candidate``), as the console's face
    comparison shows it: the enrolled person's opaque id, the gateway's score for them,
    how far below the match they were and on which side of the gateway's threshold."""

    n: int  # place in the list, 0 = the best after the match (as the audit entry lists it)
    person_id: str
    score: float
    gap: float | None  # match score minus this score (None: no match score stored)
    above_threshold: bool | None  # None: the gateway sent no threshold


class EventDetailOut(EventOut):
    """``GET /api/events/{id}``: the event as the console's event page shows it to the
    same roles, with the match's runner-ups (best first; [] without a match or when the
    gateway sent none; erased persons left out). Only this read carries them."""

    alternatives: list[CandidateOut] = []


class QuarantinedOut(EventOut):
    reason: str  # occurred_ahead | occurred_behind (of the time central received it)


class DismissIn(Body):
    reason: Reason


class FineOut(FromAttributes):
    reference: str
    status: str
    amount_cents: int
    currency: str
    points: int
    due: datetime


class AttachmentOut(BaseModel):
    position: int
    filename: str  # as sent, cleaned; for display only
    media_type: str  # decided by the content: image/jpeg | image/png | application/pdf
    size: int
    original_sha256: str  # of the bytes as uploaded (a photo is stored re-encoded)
    width: int | None = None
    height: int | None = None
    pages: int | None = None


class ConfirmOut(FromAttributes):
    """What a confirmation did. ``second_review``: a second, different operator must
    confirm too; ``confirming``: the fine is issued at ``undo_until`` unless the same
    operator undoes it (POST .../undo) before; ``confirmed``: ``fine`` issued at once."""

    event_id: str
    status: str
    fine: FineOut | None = None
    undo_until: datetime | None = None
    first_confirmed_by: str | None = None


class AppealOut(BaseModel):
    id: int
    fine_reference: str
    submitted: datetime
    grounds: str
    status: str  # pending | under_review | upheld | denied
    state: str = ""  # submitted | under review | upheld | denied
    level: int = 1  # 2: the appellant contests the denial of parent_id
    parent_id: int | None = None
    reasons: str = ""  # the supervisor's, once decided (also sent by SMS)
    decided_at: datetime | None = None
    new_due: datetime | None = None  # set by a denial
    attachments: list[AttachmentOut] = []


class DecideIn(Body):
    uphold: bool
    note: str = Field("", max_length=2000, description="reasons, required; sent by SMS")


class PersonIn(Body):
    phone: str = Field(max_length=40)
    lawful_basis: str = Field(min_length=1, max_length=200)
    name: str | None = Field(None, max_length=200)


class PersonOut(FromAttributes):
    id: str
    name: str | None
    phone: str | None
    lawful_basis: str
    enrolled: datetime
    score: int


class PhotoOut(FromAttributes):
    """An enrolment photo's metadata (the bytes are shown to reviewers in the console)."""

    id: int
    sha256: str
    size: int
    media_type: str
    width: int
    height: int
    added: datetime


class GalleryOut(BaseModel):
    """A gallery snapshot; ``version`` None after an erasure of someone no snapshot held."""

    version: int | None
    sha256: str | None = None  # of the snapshot file (what edges check)


class DeviceIn(Body):
    device_id: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    public_key: str = Field(max_length=100, description="raw Ed25519 key, base64 or hex")
    place: str = Field("", max_length=200)
    cameras: dict[str, str] = Field(default_factory=dict, max_length=64)


class DeviceCreated(BaseModel):
    device_id: str
    mqtt_username: str
    mqtt_password: str
    acl: str  # per-user acl_file lines, for a broker without the dynsec plugin
    # mosquitto_ctrl dynsec lines for the shipped broker (client id bound, own role)
    broker_commands: list[str]


class CameraHealthOut(FromAttributes):
    """One camera of the device's latest heartbeat: actual fps beside the target."""

    camera_id: str
    up: bool
    fps: float
    target_fps: float | None  # None: the gateway sent no target (an older version)
    error: str


class SnapshotOut(BaseModel):
    """A camera's latest snapshot: every person and face blurred on the gateway (issue 17)."""

    camera_id: str
    taken: datetime
    width: int
    height: int
    blurred_people: int
    blurred_faces: int
    url: str  # GET it with the same login (image/jpeg; operator, supervisor or admin)


class DeviceOut(FromAttributes):
    id: str
    place: str
    cameras: list
    disabled: bool
    last_seen: datetime | None
    online: bool | None
    outbox_depth: int | None
    camera_health: list[CameraHealthOut] = []  # from the latest heartbeat; [] before one
    snapshots: list[SnapshotOut] = []  # the latest per camera; [] when none was received
    # Snapshots dropped for coming faster than ingest.snapshot_min_interval_s per camera
    # (a device flooding its snapshot topic), since it was registered; when the last was.
    snapshots_dropped: int = 0
    snapshots_dropped_last: datetime | None = None

    @field_validator("cameras", mode="before")
    @classmethod
    def _none_is_empty(cls, v: Any) -> Any:
        return [] if v is None else v


class DeadLetterOut(BaseModel):
    id: int
    received: datetime
    topic: str
    reason: str
    size: int
    sha256: str
    raw_preview: str  # first bytes, decoded with replacement characters
    # A coalesced row stands for ``messages`` distinct bad messages on its topic with the
    # same kind of reason (``group``), received from ``received`` to ``last_received``;
    # reason and preview are its first message's. Cannot be requeued, only discarded.
    messages: int = 1
    coalesced: bool = False
    group: str | None = None
    last_received: datetime | None = None
    device_id: str | None = None  # from the topic (only that device may publish there)
    requeueable: bool = False


class AuditOut(BaseModel):
    seq: int
    at: datetime
    actor: str
    action: str
    target: str
    details: dict
    prev_hash: str = ""
    hash: str


class AuditVerifyOut(BaseModel):
    ok: bool
    entries: int
    head: str
    problems: list[str]


class NoticeAccess(Body):
    reference: str = Field(max_length=32)
    code: str = Field(max_length=32)


class NoticeOut(BaseModel):
    reference: str
    status: str
    offence: str
    place: str
    occurred: datetime
    amount_cents: int
    currency: str
    points: int
    due: datetime
    appeal_status: str | None
    due_paused: bool = False  # an appeal is open: the due date does not run
    appeal_window_ends: datetime | None = None
    appeal_window_basis: str | None = None  # delivered | sent | issued
    can_appeal: bool = False
    can_contest: bool = False  # a second-level review of the denial may be asked now
    contest_by: datetime | None = None
    appeals: list[AppealOut] = []
    paid_cents: int = 0  # received so far (a part payment leaves the rest open)


class CheckoutOut(BaseModel):
    """Where to send the person: the payment provider's hosted page for this fine."""

    url: str
    session_id: str
    amount_cents: int
    currency: str


class AttachmentIn(Body):
    filename: str = Field("file", max_length=200)
    # base64 of the file; what it is is decided by its content (JPEG, PNG or PDF)
    content_base64: str = Field(min_length=1, max_length=70 * 1024 * 1024)


class PublicAppealIn(NoticeAccess):
    grounds: str = Field(min_length=1, max_length=5000)
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=20)
