"""The contract ABIs (Cairo 1, ABI v2 JSON written from docs/contract.md), parsed by starknet-py."""

from __future__ import annotations

import json
import threading
from functools import cache, lru_cache
from pathlib import Path
from typing import Any, Literal

import lark
from starknet_py.abi.v2 import Abi, AbiParser, parser_transformer
from starknet_py.cairo.v2 import type_parser
from starknet_py.serialization._context import DeserializationContext
from starknet_py.serialization.data_serializers._common import deserialize_to_dict
from starknet_py.serialization.data_serializers.payload_serializer import PayloadSerializer
from starknet_py.serialization.factory import serializer_for_payload

ABI_DIR = Path(__file__).parent / "abi"
ContractName = Literal["job_registry", "erc20", "account"]

_type_grammar_lock = threading.Lock()


@cache
def _type_grammar() -> lark.Lark:
    return lark.Lark(grammar=parser_transformer.ABI_EBNF, start="type", parser="earley")


@lru_cache(maxsize=4096)
def _type_tree(code: str) -> lark.Tree:
    with _type_grammar_lock:
        return _type_grammar().parse(code)


def parse_type(code: str, type_identifiers: dict) -> Any:
    """starknet-py's ABI v2 type parsing, with its grammar compiled once and each type
    string's tree kept. starknet-py 0.30 compiles the Earley grammar anew for every type
    string (its issue #1241): 155 times for the JobRegistry's ABI, several CPU-seconds in
    every process that parses an ABI (devchain, the API, agents, Dagster's code servers).
    The trees are only read by the transformer, so sharing them is safe."""
    return parser_transformer.ParserTransformer(type_identifiers).transform(_type_tree(code))


# every ABI v2 parse in the process goes through it, starknet-py's `Contract` included
type_parser.parse = parse_type


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
