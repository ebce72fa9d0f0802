"""Fast calldata decoding and result/event encoding for the plain Cairo types of the ABIs.

Why: starknet-py's serializers enter a context manager for every value they read or write;
on a bulk load that was about half of devchain's execution time (cProfile). Felts (and
addresses), unsigned integers, bools, u256, arrays and structs of those are handled here
with the same checks (felt range, integer width, bool 0/1, every felt consumed); any other
type falls back to starknet-py, and tests compare both on every ABI entry.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from starknet_py.cairo.data_types import (
    ArrayType,
    BoolType,
    CairoType,
    FeltType,
    StructType,
    UintType,
)
from starknet_py.constants import FIELD_PRIME

from veriframe_core.chain.abi import ContractName, load_abi, parsed_abi
from veriframe_core.chain.events import event_codec

U128 = 2**128
Decoder = Callable[[list[int], int], tuple[Any, int]]  # (felts, position) -> (value, next)
Encoder = Callable[[Any, list[int]], None]  # appends the value's felts


class CodecError(ValueError):
    """The felts do not fit the type (or the value does not fit its Cairo type)."""


def _felt(felts: list[int], i: int) -> tuple[int, int]:
    value = felts[i]
    if not 0 <= value < FIELD_PRIME:
        raise CodecError(f"{value} is not a felt")
    return value, i + 1


def _bool(felts: list[int], i: int) -> tuple[bool, int]:
    value = felts[i]
    if value not in (0, 1):
        raise CodecError(f"{value} is not a bool")
    return bool(value), i + 1


def _u256(felts: list[int], i: int) -> tuple[int, int]:
    low, high = felts[i], felts[i + 1]
    if not (0 <= low < U128 and 0 <= high < U128):
        raise CodecError("u256 limb out of range")
    return low + (high << 128), i + 2


def decoder(cairo_type: CairoType) -> Decoder | None:
    """A decoder for `cairo_type`, or None when starknet-py must do it."""
    if isinstance(cairo_type, FeltType):
        return _felt
    if isinstance(cairo_type, BoolType):
        return _bool
    if isinstance(cairo_type, UintType):
        if cairo_type.bits == 256:
            return _u256
        bound = 2**cairo_type.bits

        def uint(felts: list[int], i: int) -> tuple[int, int]:
            value = felts[i]
            if not 0 <= value < bound:
                raise CodecError(f"{value} does not fit u{cairo_type.bits}")
            return value, i + 1

        return uint
    if isinstance(cairo_type, ArrayType):
        inner = decoder(cairo_type.inner_type)
        if inner is None:
            return None
        if inner is _felt:

            def felts_array(felts: list[int], i: int) -> tuple[list[int], int]:
                length, i = _felt(felts, i)
                end = i + length
                if end > len(felts):
                    raise CodecError("array runs past the calldata")
                items = felts[i:end]
                for value in items:
                    if not 0 <= value < FIELD_PRIME:
                        raise CodecError(f"{value} is not a felt")
                return items, end

            return felts_array
        item_decoder = inner

        def array(felts: list[int], i: int) -> tuple[list[Any], int]:
            length, i = _felt(felts, i)
            items = []
            for _ in range(length):
                item, i = item_decoder(felts, i)
                items.append(item)
            return items, i

        return array
    if isinstance(cairo_type, StructType):
        return struct_decoder(cairo_type.types)
    return None


def struct_decoder(members: dict[str, CairoType]) -> Decoder | None:
    """A decoder of named members in order (a struct, or a function's inputs)."""
    decoders = [(name, decoder(t)) for name, t in members.items()]
    if any(d is None for _, d in decoders):
        return None

    def struct(felts: list[int], i: int) -> tuple[dict[str, Any], int]:
        out = {}
        for name, member in decoders:
            out[name], i = member(felts, i)  # type: ignore[misc]
        return out, i

    return struct


def decode_all(decode: Decoder, felts: list[int]) -> Any:
    """Decode and insist that every felt was used (as starknet-py does)."""
    value, end = decode(felts, 0)
    if end != len(felts):
        raise CodecError(f"{len(felts) - end} felts left over")
    return value


def encoder(cairo_type: CairoType) -> Encoder | None:
    """An encoder for the plain types (felt, bool, uint, u256), or None."""
    if isinstance(cairo_type, FeltType):

        def felt(value: Any, out: list[int]) -> None:
            if not isinstance(value, int) or not 0 <= value < FIELD_PRIME:
                raise CodecError(f"{value!r} is not a felt")
            out.append(value)

        return felt
    if isinstance(cairo_type, BoolType):

        def boolean(value: Any, out: list[int]) -> None:
            if not isinstance(value, bool):
                raise CodecError(f"{value!r} is not a bool")
            out.append(int(value))

        return boolean
    if isinstance(cairo_type, UintType):
        bound = 2**cairo_type.bits

        def uint(value: Any, out: list[int]) -> None:
            if not isinstance(value, int) or not 0 <= value < bound:
                raise CodecError(f"{value!r} does not fit u{cairo_type.bits}")
            if bound > U128:
                out += (value % U128, value >> 128)
            else:
                out.append(value)

        return uint
    return None


@cache
def event_encoder(
    contract: ContractName, name: str
) -> Callable[[dict[str, Any]], tuple[list[int], list[int]]]:
    """(keys, data) of the event `name`, as `EventCodec.encode` gives them but faster."""
    codec = event_codec(contract)
    suffix = f"::{name}"
    structs = [
        e
        for e in load_abi(contract)
        if e.get("type") == "event" and e["kind"] == "struct" and e["name"].endswith(suffix)
    ]
    slow = lambda fields: codec.encode(name, **fields)  # noqa: E731
    if len(structs) != 1:
        return slow
    types = parsed_abi(contract).events[structs[0]["name"]].types
    kinds = {m["name"]: m["kind"] for m in structs[0]["members"]}
    members = [(n, encoder(t), kinds[n]) for n, t in types.items()]
    if any(e is None for _, e, _ in members):
        return slow
    keys_part = [(n, e) for n, e, kind in members if kind == "key"]
    data_part = [(n, e) for n, e, kind in members if kind != "key"]
    selector = codec.selector(name)

    def encode(fields: dict[str, Any]) -> tuple[list[int], list[int]]:
        keys, data = [selector], []
        for member, write in keys_part:
            write(fields[member], keys)  # type: ignore[misc]
        for member, write in data_part:
            write(fields[member], data)  # type: ignore[misc]
        return keys, data

    return encode
