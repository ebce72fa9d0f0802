"""One way to write a StarkNet address or felt, used by every table, API and log line."""

from __future__ import annotations

FELT_MAX = 2**251 + 17 * 2**192  # the field prime P; felts are in [0, P)


def parse_felt(value: int | str) -> int:
    """A felt from an int or a hex/decimal string; raises ValueError when out of range."""
    if isinstance(value, bool):
        raise ValueError("a felt cannot be a bool")
    if isinstance(value, int):
        number = value
    else:
        text = value.strip().lower()
        try:
            number = int(text, 16) if text.startswith("0x") else int(text)
        except ValueError:
            raise ValueError(f"{value!r} is not a felt (hex 0x… or decimal)") from None
    if not 0 <= number < FELT_MAX:
        raise ValueError(f"{value!r} is outside the felt range [0, P)")
    return number


def normalize_address(value: int | str) -> str:
    """The canonical text form of an address: 0x + 64 lowercase hex digits."""
    return f"0x{parse_felt(value):064x}"


def to_hex(value: int) -> str:
    """A felt as the JSON-RPC wants it: 0x without leading zeros."""
    return hex(value)
