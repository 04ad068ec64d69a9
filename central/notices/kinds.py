"""What each notice kind carries: one model per kind, the contract between the workflow
that queues a notice and the templates that word it.

A notice row stores ``kind`` and ``params`` (JSON). The workflow builds the kind's model
(a missing or mistyped field fails there, naming the kind and the field) and
:func:`queue_notice` stores ``model_dump(mode="json")``, the same JSON as before; the
sender reads it back with :func:`parse_params`, so a row that does not fit its kind is
refused with a reason instead of being worded wrong.

>>> p = PaymentReceived(reference="JW-1", amount="€50.00")
>>> parse_params("payment_received", p.stored()) == p
True
>>> parse_params("payment_received", {"reference": "JW-1"})
Traceback (most recent call last):
...
central.notices.kinds.NoticeParamsError: notice payment_received: amount: Field required
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar

from pydantic import AwareDatetime, ConfigDict, Field, PlainSerializer, ValidationError
from sqlalchemy.orm import Session

from central.store.models import Notice
from jaywatch.config_file import StrictModel


class NoticeKind(StrEnum):
    fine_issued = "fine_issued"
    payment_received = "payment_received"
    appeal_received = "appeal_received"
    appeal_upheld = "appeal_upheld"
    appeal_denied = "appeal_denied"


class NoticeParamsError(ValueError):
    """A notice's params do not fit its kind: names the kind and the field."""


def _describe(kind: str, e: ValidationError) -> str:
    parts = []
    for err in e.errors():
        where = ".".join(str(x) for x in err["loc"]) or "params"
        parts.append(f"{where}: {err['msg']}")
    return f"notice {kind}: " + "; ".join(parts)


# Stored as the workflow always wrote it (``datetime.isoformat()``: "+00:00", not "Z").
_IsoDatetime = Annotated[AwareDatetime, PlainSerializer(lambda t: t.isoformat(), return_type=str)]


class NoticeParams(StrictModel):
    """Fields every notice has; a subclass per kind adds its own."""

    kind: ClassVar[NoticeKind]
    # Strict where the workflow builds it (a string where a number belongs is a bug
    # there); each kind's title names it in the error: "validation error for notice
    # fine_issued / points / Field required". Dates accept ISO text (as stored).
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    reference: str = Field(min_length=1, description="the fine's reference")

    def stored(self) -> dict[str, Any]:
        """The JSON kept in ``notices.params``."""
        return self.model_dump(mode="json", exclude_none=True)


class FineIssued(NoticeParams):
    kind = NoticeKind.fine_issued
    model_config = ConfigDict(title="notice fine_issued")

    access_code: str | None = Field(
        None,
        description="the citizen's code; removed once the text holding it is rendered "
        "(see access_code_in_text), absent from rows older than that",
    )
    access_code_in_text: bool | None = Field(
        None, description="set when access_code was removed: a retry resends the stored text"
    )
    amount: str = Field(description="formatted money, e.g. €50.00")
    points: int = Field(ge=0)
    due: Annotated[date, Field(strict=False)]
    offence: str
    place: str
    occurred: Annotated[_IsoDatetime, Field(strict=False)]

    def without_access_code(self) -> FineIssued:
        if self.access_code is None:
            return self
        return self.model_copy(update={"access_code": None, "access_code_in_text": True})


class PaymentReceived(NoticeParams):
    kind = NoticeKind.payment_received
    model_config = ConfigDict(title="notice payment_received")
    amount: str


class AppealReceived(NoticeParams):
    kind = NoticeKind.appeal_received
    model_config = ConfigDict(title="notice appeal_received")
    appeal: int = Field(description="the appeal's id")


class AppealUpheld(NoticeParams):
    kind = NoticeKind.appeal_upheld
    model_config = ConfigDict(title="notice appeal_upheld")
    note: str = Field(description="the supervisor's reasons")
    level: int
    points_restored: int = Field(ge=0)


class AppealDenied(NoticeParams):
    kind = NoticeKind.appeal_denied
    model_config = ConfigDict(title="notice appeal_denied")
    note: str = Field(description="the supervisor's reasons")
    level: int
    due: Annotated[date, Field(strict=False)] = Field(description="the new due date")


MODELS: dict[NoticeKind, type[NoticeParams]] = {
    m.kind: m for m in (FineIssued, PaymentReceived, AppealReceived, AppealUpheld, AppealDenied)
}


def parse_params(kind: str, params: object) -> NoticeParams:
    """A stored row's params as its kind's model, or :class:`NoticeParamsError`."""
    try:
        model = MODELS[NoticeKind(kind)]
    except ValueError:
        raise NoticeParamsError(f"notice {kind}: unknown notice kind") from None
    if not isinstance(params, dict):
        raise NoticeParamsError(f"notice {kind}: params: not an object ({type(params).__name__})")
    try:
        return model.model_validate(params, strict=False)
    except ValidationError as e:
        raise NoticeParamsError(_describe(kind, e)) from None


def queue_notice(
    session: Session,
    params: NoticeParams,
    *,
    person_id: str,
    fine_id: int | None,
    created: datetime,
) -> Notice:
    """Add one notice to the outbox (in the caller's transaction)."""
    n = Notice(
        person_id=person_id,
        fine_id=fine_id,
        kind=params.kind.value,
        params=params.stored(),
        created=created,
    )
    session.add(n)
    return n
