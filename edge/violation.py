"""A finished violation as the edge reports it (CLI JSON line, wire event, evidence files)."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from edge.evidence import EvidenceShot
from edge.rule.crossing import Entry
from jaywatch import wire


@dataclass(frozen=True, slots=True)
class Match:
    person_id: str
    score: float
    backend: str = ""
    threshold: float | None = None
    gallery_version: str = ""


@dataclass(frozen=True, slots=True)
class Violation:
    camera_id: str
    entry: Entry
    evidence: list[EvidenceShot] = field(default_factory=list)
    match: Match | None = None
    faces_used: int = 0

    def to_json(self) -> dict[str, Any]:
        """The offline CLI's line (the fields other tools rely on come first)."""
        e = self.entry
        return {
            "camera_id": self.camera_id,
            "t": round(e.t, 3),
            "frame": e.frame,
            "track_id": e.track_id,
            "signal_red_for_s": round(e.red_for_s, 3),
            "bbox": [round(v, 1) for v in e.bbox],
            "match": (
                None
                if self.match is None
                else {"person_id": self.match.person_id, "score": round(self.match.score, 4)}
            ),
            "signal_phase": e.signal.state.value,
            "foot": [round(v, 1) for v in e.foot],
            "faces_used": self.faces_used,
            "evidence": [
                {
                    "role": s.role,
                    "frame": s.frame,
                    "t": round(s.t, 3),
                    "blurred_faces": s.blurred_faces,
                }
                for s in self.evidence
            ],
        }

    def to_wire(
        self,
        device_id: str,
        occurred: datetime,
        zone: list[tuple[float, float]],
        grace_s: float,
        signal_source: str = "roi",
        signal_roi: tuple[int, int, int, int] | None = None,
    ) -> wire.ViolationEvent:
        """The unsigned wire event; the gateway signs it and puts it in its outbox."""
        e = self.entry
        return wire.ViolationEvent(
            device_id=device_id,
            camera_id=self.camera_id,
            occurred=occurred,
            t=e.t,
            frame=e.frame,
            track_id=e.track_id,
            bbox=e.bbox,
            signal=wire.SignalEvidence(
                phase=e.signal.state.value,
                red_for_s=e.red_for_s,
                source=signal_source,  # type: ignore[arg-type]
                roi=signal_roi,
            ),
            zone=zone,
            grace_s=grace_s,
            evidence=[
                wire.EvidenceImage(
                    role=s.role,  # type: ignore[arg-type]
                    frame=s.frame,
                    t=s.t,
                    jpeg_b64=base64.b64encode(s.jpeg).decode(),
                    blurred_faces=s.blurred_faces,
                )
                for s in self.evidence
            ],
            match=None
            if self.match is None
            else wire.MatchResult(
                person_id=self.match.person_id,
                score=self.match.score,
                backend=self.match.backend,
                threshold=self.match.threshold,
                gallery_version=self.match.gallery_version,
            ),
        )
