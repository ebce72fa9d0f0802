"""The contract ABIs (Cairo 1, ABI v2 JSON written from JOB_REGISTRY.md), parsed by starknet-py."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Literal

from starknet_py.abi.v2 import Abi, AbiParser

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
