"""A CID as two Cairo short strings (docs/contract.md, "CIDs in felts").

Characters 0–30 go in part 1, the rest in part 2 (0 when empty): enough for CIDv0
(46 characters) and base32 CIDv1 (59 characters).
"""

from __future__ import annotations

SHORT_STRING_MAX = 31


class CidEncodingError(ValueError):
    """The CID or its felt parts are not printable ASCII that fits two short strings."""


def _is_printable_ascii(text: str) -> bool:
    """Only characters 0x21-0x7E (string methods, not a per-character loop: ingestion checks
    every CID it stores)."""
    return text.isascii() and text.isprintable() and " " not in text


def _encode_short(text: str) -> int:
    return int.from_bytes(text.encode("ascii"), "big") if text else 0


def _decode_short(felt: int) -> str:
    if felt < 0 or felt >= 1 << (8 * SHORT_STRING_MAX):
        raise CidEncodingError(f"felt {felt:#x} is longer than a 31-character short string")
    raw = felt.to_bytes(SHORT_STRING_MAX, "big").lstrip(b"\0")
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        raise CidEncodingError(f"felt {felt:#x} is not ASCII text") from None
    if not _is_printable_ascii(text):
        raise CidEncodingError(f"felt {felt:#x} holds non-printable characters")
    return text


def cid_to_felts(cid: str) -> tuple[int, int]:
    """Split a CID into (part1, part2) felts."""
    if not cid or not _is_printable_ascii(cid):
        raise CidEncodingError(f"CID {cid!r} must be non-empty printable ASCII")
    if len(cid) > 2 * SHORT_STRING_MAX:
        raise CidEncodingError(f"CID {cid!r} is longer than {2 * SHORT_STRING_MAX} characters")
    return _encode_short(cid[:SHORT_STRING_MAX]), _encode_short(cid[SHORT_STRING_MAX:])


def felts_to_cid(part1: int, part2: int) -> str:
    """Join the two felts back into the CID text; rejects parts that are not printable ASCII."""
    first = _decode_short(part1)
    if not first:
        raise CidEncodingError("CID part 1 is empty")
    second = _decode_short(part2)
    if second and len(first) != SHORT_STRING_MAX:
        raise CidEncodingError("CID part 2 is set but part 1 is shorter than 31 characters")
    return first + second
