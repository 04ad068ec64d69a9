"""A finished violation as the edge reports it (CLI JSON line, wire event, evidence files)."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from edge.evidence import EvidenceClipData, EvidenceShot, FrameFacts, RawEvidence
from edge.rule.crossing import Entry
from jaywatch import wire


@dataclass(frozen=True, slots=True)
class Match:
    person_id: str
    score: float
    backend: str = ""
    threshold: float | None = None
    gallery_version: str = ""
    # Runner-up (person_id, score) pairs, best first; sent only with this match.
    alternatives: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True, slots=True)
class Violation:
    camera_id: str
    entry: Entry
    evidence: list[EvidenceShot] = field(default_factory=list)
    match: Match | None = None
    faces_used: int = 0
    # Collected by the pipeline, rendered (anonymised, encoded) by edge/evidence_render.py
    # into ``evidence`` and ``clip``; dropped once rendered.
    raw: RawEvidence | None = None
    clip: EvidenceClipData | None = None

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
                else {
                    "person_id": self.match.person_id,
                    "score": round(self.match.score, 4),
                    **(
                        {
                            "alternatives": [
                                {"person_id": pid, "score": round(sc, 4)}
                                for pid, sc in self.match.alternatives
                            ]
                        }
                        if self.match.alternatives
                        else {}
                    ),
                }
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
                    **(
                        {}
                        if s.facts is None
                        else {
                            "box": None
                            if s.facts.box is None
                            else [round(v, 1) for v in s.facts.box],
                            "phase": s.facts.phase,
                        }
                    ),
                }
                for s in self.evidence
            ],
            "clip": None
            if self.clip is None
            else {
                "bytes": len(self.clip.webm),
                "frames": self.clip.frames,
                "fps": round(self.clip.fps, 3),
                "codec": self.clip.codec,
                "blurred_faces": self.clip.blurred_faces,
            },
        }

    def to_wire(
        self,
        device_id: str,
        occurred: datetime,
        zone: list[tuple[float, float]],
        grace_s: float,
        signal_source: str = "roi",
        signal_roi: tuple[int, int, int, int] | None = None,
        site_tz: str = "UTC",
        place: str = "",
    ) -> wire.ViolationEvent:
        """The unsigned wire event; the gateway signs it and puts it in its outbox.

        ``occurred`` is the wall-clock time of the entry frame; every other frame's time
        is derived from it and the frame's own stream time."""
        e = self.entry
        zone_info = ZoneInfo(site_tz)

        def utc_of(t: float) -> datetime:
            return occurred + timedelta(seconds=t - e.t)

        def truth(s: EvidenceShot) -> wire.FrameTruth | None:
            f = s.facts
            if f is None:
                return None
            h, w = f.frame.image.shape[:2]
            utc = utc_of(f.frame.t)
            return wire.FrameTruth(
                box=f.box,
                foot=f.foot,
                utc=utc,
                local=utc.astimezone(zone_info),
                tz=site_tz,
                phase=f.phase,  # type: ignore[arg-type]
                red_for_s=f.red_for_s,
                width=w,
                height=h,
                bar_px=s.bar_px,
            )

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
                    truth=truth(s),
                )
                for s in self.evidence
            ],
            clip=None
            if self.clip is None
            else _wire_clip(self.clip, utc_of(self.clip.first.frame.t)),
            site_tz=site_tz,
            place=place,
            match=None
            if self.match is None
            else wire.MatchResult(
                person_id=self.match.person_id,
                score=self.match.score,
                backend=self.match.backend,
                threshold=self.match.threshold,
                gallery_version=self.match.gallery_version,
                alternatives=[
                    wire.MatchAlternative(person_id=pid, score=score)
                    for pid, score in self.match.alternatives
                ],
            ),
        )


def _wire_clip(c: EvidenceClipData, utc_first: datetime) -> wire.EvidenceClip:
    return wire.EvidenceClip(
        codec=c.codec,  # type: ignore[arg-type]
        sha256=hashlib.sha256(c.webm).hexdigest(),
        size=len(c.webm),
        webm_b64=base64.b64encode(c.webm).decode(),
        fps=c.fps,
        frames=c.frames,
        frame_first=c.first.frame.index,
        frame_last=c.last.frame.index,
        t_first=c.first.frame.t,
        t_last=c.last.frame.t,
        utc_first=utc_first,
        width=c.width,
        height=c.height,
        blurred_faces=c.blurred_faces,
    )


__all__ = ["FrameFacts", "Match", "Violation"]
