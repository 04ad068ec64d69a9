"""SMS text → SMPP parts: GSM 03.38 7-bit when every character has a code, else UCS-2.

Long texts become concatenated parts, each led by a 6-byte UDH (IEI 0x00: 8-bit
reference, total, sequence). Splits never cut a GSM escape pair or a UTF-16 surrogate
pair (smpplib's own splitter can do both, so it is not used for splitting).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

# GSM 03.38 default alphabet, code = index; \x1b (escape) is a placeholder.
_GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXT = {
    "\f": 0x0A,
    "^": 0x14,
    "{": 0x28,
    "}": 0x29,
    "\\": 0x2F,
    "[": 0x3C,
    "~": 0x3D,
    "]": 0x3E,
    "|": 0x40,
    "€": 0x65,
}
_GSM_CODE = {ch: i for i, ch in enumerate(_GSM_BASIC) if ch != "\x1b"}
assert len(_GSM_BASIC) == 128

DC_GSM7 = 0x00  # SMSC default alphabet (GSM 03.38), one septet per byte over SMPP
DC_UCS2 = 0x08
ESM_UDHI = 0x40

GSM7_SINGLE, GSM7_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67  # in UTF-16 code units


class MessageTooLong(ValueError):
    pass


@dataclass(frozen=True)
class EncodedSms:
    data_coding: int
    esm_class: int
    parts: list[bytes]  # short_message of each submit_sm, UDH included

    @property
    def encoding(self) -> str:
        return "gsm7" if self.data_coding == DC_GSM7 else "ucs2"


def gsm7_units(text: str) -> list[bytes] | None:
    """One entry per character (1 byte, or 2 with the escape); None if not GSM-7."""
    out: list[bytes] = []
    for ch in text:
        code = _GSM_CODE.get(ch)
        if code is not None:
            out.append(bytes([code]))
        elif ch in _GSM_EXT:
            out.append(bytes([0x1B, _GSM_EXT[ch]]))
        else:
            return None
    return out


def ucs2_units(text: str) -> list[bytes]:
    """One entry per character: 2 bytes, or 4 for a surrogate pair (kept together)."""
    return [ch.encode("utf-16-be") for ch in text]


def _pack(units: list[bytes], capacity: int, width: int) -> list[bytes]:
    """Greedy split: a part holds at most ``capacity`` code units of ``width`` bytes."""
    parts: list[bytes] = []
    cur: list[bytes] = []
    used = 0
    for u in units:
        n = len(u) // width
        if used + n > capacity:
            parts.append(b"".join(cur))
            cur, used = [], 0
        cur.append(u)
        used += n
    if cur:
        parts.append(b"".join(cur))
    return parts


def encode_sms(text: str, max_parts: int = 255, reference: str = "") -> EncodedSms:
    """Encode and split ``text``; ``reference`` seeds the UDH reference number so a
    resubmission of the same notice carries the same one."""
    if not text:
        raise ValueError("empty SMS text")
    gsm = gsm7_units(text)
    if gsm is not None:
        dc, units, width, single, part = DC_GSM7, gsm, 1, GSM7_SINGLE, GSM7_PART
    else:
        dc, units, width, single, part = DC_UCS2, ucs2_units(text), 2, UCS2_SINGLE, UCS2_PART
    total = sum(len(u) for u in units) // width
    if total <= single:
        return EncodedSms(dc, 0, [b"".join(units)])
    chunks = _pack(units, part, width)
    if len(chunks) > min(max_parts, 255):
        raise MessageTooLong(
            f"SMS needs {len(chunks)} parts ({total} {'septets' if width == 1 else 'UCS-2 units'}),"
            f" at most {max_parts} allowed"
        )
    ref = zlib.crc32((reference or text).encode()) & 0xFF
    n = len(chunks)
    return EncodedSms(
        dc,
        ESM_UDHI,
        [bytes([0x05, 0x00, 0x03, ref, n, i]) + c for i, c in enumerate(chunks, start=1)],
    )


def decode_parts(data_coding: int, esm_class: int, parts: list[bytes]) -> str:
    """Inverse of :func:`encode_sms` (parts in any order): used by tests and the log."""
    bodies: dict[int, bytes] = {}
    for i, p in enumerate(parts, start=1):
        if esm_class & ESM_UDHI:
            udhl = p[0]
            hdr, body = p[1 : 1 + udhl], p[1 + udhl :]
            seq = hdr[4] if hdr[0] == 0x00 else i
            bodies[seq] = body
        else:
            bodies[i] = p
    raw = b"".join(bodies[k] for k in sorted(bodies))
    if data_coding == DC_UCS2:
        return raw.decode("utf-16-be")
    inv_ext = {v: k for k, v in _GSM_EXT.items()}
    out, it = [], iter(raw)
    for b in it:
        out.append(inv_ext[next(it)] if b == 0x1B else _GSM_BASIC[b])
    return "".join(out)
