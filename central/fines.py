"""The fine schedule (config/fines.yaml): what each offence costs, in money and points.

Repeat offences within a window escalate: the step chosen is the highest ``after`` that
is ≤ the number of earlier non-void fines for the same offence inside the window.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from pydantic import Field, field_validator

from jaywatch.config_file import StrictModel, load_config_file


class EscalationStep(StrictModel):
    after: int = Field(ge=1, description="earlier fines within the window")
    amount: Decimal = Field(ge=0, decimal_places=2)
    points: int = Field(ge=0)


class Escalation(StrictModel):
    window_days: int = Field(ge=1)
    steps: list[EscalationStep] = Field(default_factory=list)

    @field_validator("steps")
    @classmethod
    def _ascending(cls, v: list[EscalationStep]) -> list[EscalationStep]:
        afters = [s.after for s in v]
        if afters != sorted(set(afters)):
            raise ValueError("steps: 'after' values must be strictly ascending")
        return v


class Offence(StrictModel):
    description: str
    amount: Decimal = Field(ge=0, decimal_places=2)
    points: int = Field(ge=0)
    due_days: int = Field(ge=1)
    escalation: Escalation | None = None


class FineSchedule(StrictModel):
    currency: str = Field(min_length=3, max_length=3)
    offences: dict[str, Offence] = Field(min_length=1)

    def offence(self, code: str) -> Offence:
        try:
            return self.offences[code]
        except KeyError:
            raise ValueError(
                f"offence code {code!r} is not in the fine schedule "
                f"(known: {sorted(self.offences)})"
            ) from None

    def tariff(self, code: str, prior_in_window: int) -> Tariff:
        """Amount (cents), points and due days for the next fine of ``code``."""
        off = self.offence(code)
        amount, points = off.amount, off.points
        if off.escalation:
            for step in off.escalation.steps:
                if prior_in_window >= step.after:
                    amount, points = step.amount, step.points
        return Tariff(
            code=code,
            amount_cents=int(amount * 100),
            points=points,
            due_days=off.due_days,
            description=off.description,
        )

    def window_days(self, code: str) -> int | None:
        esc = self.offence(code).escalation
        return esc.window_days if esc else None


@dataclass(frozen=True)
class Tariff:
    code: str
    amount_cents: int
    points: int
    due_days: int
    description: str


def load_schedule(path: Path | str) -> FineSchedule:
    return load_config_file(FineSchedule, path)


def format_money(cents: int, currency: str) -> str:
    return f"{currency} {cents // 100}.{cents % 100:02d}"
