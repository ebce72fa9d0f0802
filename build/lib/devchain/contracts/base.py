"""How a simulated contract runs: ABI-driven dispatch, storage, events, calls between contracts.

Each contract is a Python class whose external functions are methods named like the ABI
functions. Calldata is decoded and results encoded with starknet-py's serializers for the
contract's ABI, so what goes over the wire is exactly what a Cairo contract would take and
return. Reverts are `Revert(reason)` with a Cairo short-string reason.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any, ClassVar

from starknet_py.cairo.felt import encode_shortstring
from starknet_py.hash.selector import get_selector_from_name
from starknet_py.hash.utils import compute_hash_on_elements
from starknet_py.serialization.data_serializers.payload_serializer import PayloadSerializer
from starknet_py.serialization.factory import serializer_for_payload, serializer_for_type

from devchain.contracts.codec import Decoder, Encoder, decode_all, encoder, event_encoder
from devchain.contracts.codec import struct_decoder as _struct_decoder
from devchain.state import TxState
from veriframe_core.chain.abi import ContractName, abi_functions, decode_inputs, load_abi

U128 = 2**128
U256_MAX = 2**256 - 1


class Revert(Exception):
    """A contract call failed; `reason` is the Cairo panic message (a short string)."""

    def __init__(self, reason: str, contract: int = 0, selector: int = 0):
        super().__init__(reason)
        self.reason = reason
        self.contract = contract
        self.selector = selector

    def describe(self) -> str:
        """The revert text in the shape nodes use, with the reason readable."""
        code = encode_shortstring(self.reason[:31])
        return (
            f"Error in the called contract (contract address: {self.contract:#x}, "
            f"selector: {self.selector:#x}): Execution failed. Failure reason: "
            f"{code:#x} ('{self.reason}')."
        )


def require(condition: bool, reason: str) -> None:
    """Cairo's assert(cond, 'reason')."""
    if not condition:
        raise Revert(reason)


@dataclass
class Execution:
    """Everything one transaction (or one call) runs with: block, storage view, emitted events."""

    chain: Any  # devchain.chain.Chain; typed loosely to avoid an import cycle
    state: TxState
    block_number: int
    block_timestamp: int
    tx_hash: int = 0
    tx_signature: list[int] = field(default_factory=list)
    tx_version: int = 3
    events: list[tuple[int, list[int], list[int]]] = field(default_factory=list)
    steps: int = 0  # storage writes + calls + events, for the gas figures

    def call(self, caller: int, to: int, selector: int, calldata: list[int]) -> list[int]:
        contract = self.chain.contract_at(to)
        if contract is None:
            raise Revert("CONTRACT_NOT_DEPLOYED", to, selector)
        self.steps += 1
        return contract.dispatch(Frame(self, contract, caller), selector, calldata)


@dataclass
class Frame:
    """One contract call: who is called, by whom, inside which execution."""

    execution: Execution
    contract: SimulatedContract
    caller: int

    @property
    def address(self) -> int:
        return self.contract.address

    @property
    def block_timestamp(self) -> int:
        return self.execution.block_timestamp

    def read(self, var: str, *keys: int) -> int:
        return self.execution.state.read((self.address, var, *keys))

    def write(self, var: str, *keys: int, value: int) -> None:
        self.execution.steps += 1
        self.execution.state.write((self.address, var, *keys), int(value))

    def emit(self, name: str, **fields: Any) -> None:
        keys, data = event_encoder(self.contract.abi_name, name)(fields)
        self.execution.steps += 1
        self.execution.events.append((self.address, keys, data))

    def call(self, to: int, function: str, calldata: list[int]) -> list[int]:
        return self.execution.call(self.address, to, _selector(function), calldata)


@cache
def _selector(function: str) -> int:
    """Function selectors are keccak hashes: compute each once (a call per token transfer)."""
    return get_selector_from_name(function)


@dataclass(frozen=True)
class _Entry:
    name: str
    inputs: PayloadSerializer
    outputs: list[Any]
    fast_inputs: Decoder | None  # devchain.contracts.codec, when every input type is plain
    fast_outputs: list[Encoder] | None

    def decode(self, calldata: list[int]) -> dict[str, Any]:
        if self.fast_inputs is not None:
            return decode_all(self.fast_inputs, calldata)
        return decode_inputs(self.inputs, calldata)

    def encode(self, result: Any) -> list[int]:
        if not self.outputs:
            return []
        values = result if len(self.outputs) > 1 else (result,)
        out: list[int] = []
        if self.fast_outputs is not None:
            for write, value in zip(self.fast_outputs, values, strict=True):
                write(value, out)
            return out
        for serializer, value in zip(self.outputs, values, strict=True):
            out.extend(serializer.serialize(value))
        return out


@cache
def _abi_hash(name: ContractName) -> int:
    abi = json.dumps(load_abi(name), sort_keys=True).encode()
    return compute_hash_on_elements(
        [int.from_bytes(abi[i : i + 31], "big") for i in range(0, len(abi), 31)]
    )


class SimulatedContract:
    """Base of the devchain contracts: an address, an ABI, and methods named like its functions."""

    abi_name: ClassVar[ContractName]
    _entries: ClassVar[dict[int, _Entry]]

    def __init__(self, address: int):
        self.address = address

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not hasattr(cls, "abi_name"):
            return
        cls._entries = {}
        for name, function in abi_functions(cls.abi_name).items():
            if not callable(getattr(cls, name, None)):
                raise TypeError(f"{cls.__name__} lacks ABI function {name}")
            encoders = [encoder(t) for t in function.outputs]
            cls._entries[get_selector_from_name(name)] = _Entry(
                name=name,
                inputs=serializer_for_payload(function.inputs),
                outputs=[serializer_for_type(t) for t in function.outputs],
                fast_inputs=_struct_decoder(function.inputs),
                fast_outputs=None if None in encoders else encoders,  # type: ignore[arg-type]
            )

    @classmethod
    def class_hash(cls) -> int:
        """A stable class hash: the hash of the class's ABI (devchain has no Sierra compiler)."""
        return _abi_hash(cls.abi_name)

    @classmethod
    def entry_points(cls) -> list[tuple[int, str]]:
        return [(selector, entry.name) for selector, entry in cls._entries.items()]

    def dispatch(self, frame: Frame, selector: int, calldata: list[int]) -> list[int]:
        entry = self._entries.get(selector)
        if entry is None:
            raise Revert("ENTRYPOINT_NOT_FOUND", self.address, selector)
        try:
            try:
                args = entry.decode(calldata)
            except Exception:
                raise Revert("Failed to deserialize param") from None
            method: Callable[..., Any] = getattr(self, entry.name)
            result = method(frame, **args)
        except Revert as revert:
            if not revert.contract:
                revert.contract, revert.selector = self.address, selector
            raise
        return entry.encode(result)
