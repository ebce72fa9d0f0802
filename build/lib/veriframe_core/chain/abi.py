"""The contract ABIs (Cairo 1, ABI v2 JSON written from JOB_REGISTRY.md), parsed by starknet-py."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any, Literal

from starknet_py.abi.v2 import Abi, AbiParser
from starknet_py.serialization._context import DeserializationContext
from starknet_py.serialization.data_serializers._common import deserialize_to_dict
from starknet_py.serialization.data_serializers.payload_serializer import PayloadSerializer
from starknet_py.serialization.factory import serializer_for_payload

ABI_DIR = Path(__file__).parent / "abi"
ContractName = Literal["job_registry", "erc20", "account"]


@cache
def load_abi(name: ContractName) -> list[dict]:
    """The raw ABI list of a contract, as a node serves it in a class's `abi` field."""
    return json.loads((ABI_DIR / f"{name}.json").read_text())


@cache
def parsed_abi(name: ContractName) -> Abi:
    """The ABI parsed by starknet-py's own ABI v2 parser."""
    return AbiParser(load_abi(name)).parse()


def abi_functions(name: ContractName) -> dict[str, Abi.Function]:
    """Every function of every interface of the contract, by name."""
    functions: dict[str, Abi.Function] = dict(parsed_abi(name).functions)
    for interface in parsed_abi(name).interfaces.values():
        functions.update(interface.items)
    return functions


@cache
def input_serializer(name: ContractName, function: str) -> PayloadSerializer:
    """starknet-py's serializer of a function's inputs."""
    return serializer_for_payload(abi_functions(name)[function].inputs)


def decode_inputs(serializer: PayloadSerializer, calldata: list[int]) -> dict[str, Any]:
    """Calldata to arguments by name, with starknet-py's member serializers.

    `PayloadSerializer.deserialize` would wrap the result in a TupleDataclass, which builds a
    new dataclass type on every call (two thirds of devchain's execution time, measured).
    """
    with DeserializationContext.create(list(calldata)) as context:
        return deserialize_to_dict(serializer.serializers, context)
