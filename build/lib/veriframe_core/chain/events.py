"""Encode and decode the contracts' events: the one place devchain and the indexer share.

Cairo 2 emits an event as `keys = [selector(s)…, key members…]` and `data = [data members…]`.
A nested enum variant adds the selector of its variant name; a `flat` one adds none, so the
OpenZeppelin component events are keyed by their own names. The member types come from
starknet-py's ABI parser; simple members (felts, integers, bools, u256) are read directly,
anything else goes through starknet-py's serializers.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from functools import cache
from typing import Any

from starknet_py.cairo.data_types import BoolType, CairoType, FeltType, UintType
from starknet_py.hash.selector import get_selector_from_name
from starknet_py.serialization.factory import serializer_for_payload

from veriframe_core.chain.abi import ContractName, load_abi, parsed_abi

CONTRACT_ADDRESS = "core::starknet::contract_address::ContractAddress"


class EventDecodeError(ValueError):
    """The keys/data do not match the ABI of any known event (an ABI mismatch)."""


@dataclass(frozen=True)
class DecodedEvent:
    """An emitted event turned into a typed record: its name and its members by name."""

    name: str
    fields: dict[str, Any]


def _kind(cairo_type: CairoType) -> int | None:
    """How a simple member is read: 0 felt, 1 bool, 256 u256, n uN; None needs the serializer."""
    if isinstance(cairo_type, FeltType):
        return 0
    if isinstance(cairo_type, BoolType):
        return 1
    if isinstance(cairo_type, UintType):
        return cairo_type.bits
    return None


class _MemberCodec:
    """(De)serializes one ordered group of members (the key members or the data members)."""

    def __init__(self, members: OrderedDict[str, CairoType]):
        self.names = list(members)
        kinds = [_kind(t) for t in members.values()]
        self.fast = all(k is not None for k in kinds)
        self.members = list(zip(self.names, kinds, strict=True))
        self.size = sum(2 if k == 256 else 1 for k in kinds) if self.fast else None
        self.serializer = serializer_for_payload(members)

    def decode(self, felts: list[int]) -> dict[str, Any]:
        if not self.fast:
            return dict(self.serializer.deserialize(felts).as_dict())
        if len(felts) != self.size:
            raise EventDecodeError(f"expected {self.size} felts for {self.names}, got {len(felts)}")
        out: dict[str, Any] = {}
        i = 0
        for name, kind in self.members:
            value = felts[i]
            i += 1
            if kind == 256:
                high = felts[i]
                i += 1
                if value >> 128 or high >> 128:
                    raise EventDecodeError(f"{name}: u256 limb out of range")
                value += high << 128
            elif kind == 1:
                if value > 1:
                    raise EventDecodeError(f"{name}: {value} is not a bool")
                value = value == 1
            elif kind and value >> kind:
                raise EventDecodeError(f"{name}: {value} does not fit u{kind}")
            out[name] = value
        return out

    def encode(self, values: dict[str, Any]) -> list[int]:
        return list(self.serializer.serialize({n: values[n] for n in self.names}))


@dataclass(frozen=True)
class _EventSpec:
    name: str
    prefix: tuple[int, ...]
    keys: _MemberCodec
    data: _MemberCodec
    addresses: frozenset[str]  # members typed ContractAddress


class EventCodec:
    """Encoder/decoder for every event a contract's top-level `Event` enum can emit."""

    def __init__(self, abi: list[dict], parsed_events: dict):
        raw = {e["name"]: e for e in abi if e.get("type") == "event"}
        nested = {v["type"] for e in raw.values() if e["kind"] == "enum" for v in e["variants"]}
        roots = [n for n, e in raw.items() if e["kind"] == "enum" and n not in nested]
        if len(roots) != 1:
            raise ValueError(f"expected one top-level Event enum, found {roots}")
        self._by_name: dict[str, _EventSpec] = {}
        self._by_selector: dict[int, _EventSpec] = {}
        self._walk(raw, parsed_events, roots[0], ())

    def _walk(self, raw: dict, parsed: dict, enum_name: str, prefix: tuple[int, ...]) -> None:
        for variant in raw[enum_name]["variants"]:
            inner = raw[variant["type"]]
            flat = variant["kind"] == "flat"
            path = prefix if flat else (*prefix, get_selector_from_name(variant["name"]))
            if inner["kind"] == "enum":
                self._walk(raw, parsed, variant["type"], path)
                continue
            types = parsed[variant["type"]].types
            key_names = {m["name"] for m in inner["members"] if m["kind"] == "key"}
            spec = _EventSpec(
                name=variant["name"],
                prefix=path,
                keys=_MemberCodec(OrderedDict((n, t) for n, t in types.items() if n in key_names)),
                data=_MemberCodec(
                    OrderedDict((n, t) for n, t in types.items() if n not in key_names)
                ),
                addresses=frozenset(
                    m["name"] for m in inner["members"] if m["type"] == CONTRACT_ADDRESS
                ),
            )
            if len(path) != 1:
                raise ValueError(f"event {spec.name}: only single-selector events are supported")
            self._by_name[spec.name] = spec
            self._by_selector[path[0]] = spec

    @property
    def names(self) -> list[str]:
        return list(self._by_name)

    def selector(self, name: str) -> int:
        """keys[0] of the event `name` (for getEvents key filters)."""
        return self._spec(name).prefix[0]

    def _spec(self, name: str) -> _EventSpec:
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"unknown event {name!r}; known: {', '.join(self._by_name)}") from None

    def to_json(self, event: DecodedEvent) -> dict[str, Any]:
        """The event's members as the warehouse stores them: addresses normalised, numbers as
        numbers (JSONB keeps integers exact), bools as bools."""
        addresses = self._spec(event.name).addresses
        return {
            name: f"0x{value:064x}" if name in addresses else value
            for name, value in event.fields.items()
        }

    def encode(self, name: str, **fields: Any) -> tuple[list[int], list[int]]:
        """(keys, data) of the event `name` with the given members."""
        spec = self._spec(name)
        return [*spec.prefix, *spec.keys.encode(fields)], spec.data.encode(fields)

    def decode(self, keys: list[int], data: list[int]) -> DecodedEvent:
        """The typed record of an emitted event; EventDecodeError when it does not fit the ABI."""
        if not keys:
            raise EventDecodeError("event has no keys")
        spec = self._by_selector.get(keys[0])
        if spec is None:
            raise EventDecodeError(f"unknown event selector {keys[0]:#x}")
        try:
            fields = spec.keys.decode(keys[1:])
            fields.update(spec.data.decode(data))
        except EventDecodeError as err:
            raise EventDecodeError(f"{spec.name}: {err}") from None
        except Exception as err:  # starknet-py raises its own types for leftover/missing felts
            raise EventDecodeError(f"{spec.name}: {err}") from err
        return DecodedEvent(spec.name, fields)


@cache
def event_codec(name: ContractName) -> EventCodec:
    """The shared codec of a contract's events."""
    return EventCodec(load_abi(name), parsed_abi(name).events)
