"""The evidence package's PDF (reportlab): stills, facts, decision history, appeal.

It is a readable rendering, not the evidence itself: the signed message and the files
next to it in the package are what ``verify.py`` checks. So every still in the PDF is
printed with the sha256 of the signed image it shows, and the key's fingerprint with it.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import datetime
from xml.sax.saxutils import escape

from PIL import Image as PILImage
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import (
    Image,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)


@dataclass(frozen=True)
class Still:
    role: str
    frame: int | None
    t: float | None
    jpeg: bytes
    sha256: str
    truth: str = ""  # that frame's own time and phase, when the gateway sent them


@dataclass(frozen=True)
class HistoryLine:
    at: datetime
    actor: str
    action: str
    detail: str


@dataclass
class PackageContent:
    title: str
    facts: list[tuple[str, str]]
    stills: list[Still]
    history: list[HistoryLine]
    appeal: list[tuple[str, str]] = field(default_factory=list)
    verification: list[tuple[str, str]] = field(default_factory=list)
    clip_name: str | None = None


def _t(d: datetime | None) -> str:
    return d.strftime("%Y-%m-%d %H:%M:%S UTC") if d else "—"


def _table(rows: list[tuple[str, str]], widths: tuple[float, float]) -> Table:
    styles = getSampleStyleSheet()
    cell = styles["BodyText"]
    data = [[Paragraph(f"<b>{escape(k)}</b>", cell), Paragraph(escape(v), cell)] for k, v in rows]
    t = Table(data, colWidths=widths)
    t.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
                ("BACKGROUND", (0, 0), (0, -1), colors.whitesmoke),
            ]
        )
    )
    return t


def render(content: PackageContent) -> bytes:
    styles = getSampleStyleSheet()
    buf = io.BytesIO()
    doc = SimpleDocTemplate(
        buf,
        pagesize=A4,
        leftMargin=15 * mm,
        rightMargin=15 * mm,
        topMargin=15 * mm,
        bottomMargin=15 * mm,
        title=content.title,
        author="jaywatch central",
    )
    width = A4[0] - 30 * mm
    story: list = [Paragraph(escape(content.title), styles["Title"])]
    story.append(Paragraph("Facts", styles["Heading2"]))
    story.append(_table(content.facts, (45 * mm, width - 45 * mm)))
    story.append(Paragraph("Evidence images", styles["Heading2"]))
    if not content.stills:
        story.append(Paragraph("No images are kept for this event.", styles["BodyText"]))
    for s in content.stills:
        with PILImage.open(io.BytesIO(s.jpeg)) as im:
            w, h = im.size
        draw_w = min(width, w * 2.0)  # tiny crops (a face) are not blown up past 2x
        draw_h = draw_w * h / w
        if draw_h > 110 * mm:
            draw_h, draw_w = 110 * mm, 110 * mm * w / h
        caption = f"<b>{escape(s.role)}</b>"
        if s.frame is not None:
            caption += f" · frame {s.frame}"
        if s.t is not None:
            caption += f" · t = {s.t:.2f} s"
        if s.truth:
            caption += f"<br/>{escape(s.truth)}"
        caption += f"<br/><font size=7>sha256 {s.sha256}</font>"
        story.append(
            KeepTogether(
                [
                    Image(io.BytesIO(s.jpeg), width=draw_w, height=draw_h),
                    Paragraph(caption, styles["BodyText"]),
                    Spacer(1, 4 * mm),
                ]
            )
        )
    if content.clip_name:
        story.append(
            Paragraph(
                f"A video clip is in the package as <b>{escape(content.clip_name)}</b>.",
                styles["BodyText"],
            )
        )
    story.append(Paragraph("Decision history", styles["Heading2"]))
    if content.history:
        rows = [["When", "Who", "What", "Details"]] + [
            [_t(h.at), h.actor, h.action, Paragraph(escape(h.detail), styles["BodyText"])]
            for h in content.history
        ]
        t = Table(rows, colWidths=(38 * mm, 38 * mm, 32 * mm, width - 108 * mm), repeatRows=1)
        t.setStyle(
            TableStyle(
                [
                    ("FONTSIZE", (0, 0), (-1, -1), 8),
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                    ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
                    ("BACKGROUND", (0, 0), (-1, 0), colors.lightgrey),
                ]
            )
        )
        story.append(t)
    else:
        story.append(Paragraph("No decision has been taken yet.", styles["BodyText"]))
    story.append(Paragraph("Appeal", styles["Heading2"]))
    if content.appeal:
        story.append(_table(content.appeal, (45 * mm, width - 45 * mm)))
    else:
        story.append(Paragraph("No appeal was filed.", styles["BodyText"]))
    story.append(Paragraph("How to check this evidence", styles["Heading2"]))
    story.append(
        Paragraph(
            "This PDF is a rendering. The evidence is signed_message.json, signed by the "
            "camera gateway with its Ed25519 key (device_public_key.pem). Run "
            "<font face=Courier>python3 verify.py</font> on the package (README.txt, step "
            "by step): it checks the signature and that every image and the clip are the "
            "signed ones.",
            styles["BodyText"],
        )
    )
    story.append(_table(content.verification, (45 * mm, width - 45 * mm)))
    doc.build(story)
    return buf.getvalue()
