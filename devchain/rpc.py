"""The JSON-RPC methods: `starknet_*` (spec 0.10.2 field sets, no extras) and `devchain_*`.

Every answer is shaped so that starknet-py 0.30's strict schemas accept it with unknown
fields forbidden. Felts are hex without leading zeros; numbers and counts are JSON ints.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from typing import Any

from poseidon_py.poseidon_hash import poseidon_hash_many
from starknet_py.hash.storage import get_storage_var_address

from devchain.chain import (
    CONTRACT_KINDS,
    L1_DATA_GAS_PRICE,
    L1_GAS_PRICE,
    L2_GAS_PRICE,
    SEQUENCER_ADDRESS,
    STARKNET_VERSION,
    Block,
    Chain,
    Transaction,
    _as_int,
    event_token,
    parse_event_token,
)
from devchain.contracts.base import SimulatedContract
from devchain.errors import RpcError
from veriframe_core.chain.abi import load_abi

SPEC_VERSION = "0.10.2"
MAX_CHUNK_SIZE = 1024
MAX_FILTER_KEYS = 256
U256_VARIABLES = {"job_reward", "balances", "allowances", "total_supply"}
WEI_PER_FRI = 1  # devchain prices are quoted in FRI; the WEI column mirrors them


class RawResult:
    """A result that is already JSON bytes (getEvents builds its page from cached events)."""

    def __init__(self, payload: bytes):
        self.payload = payload


def _price(fri: int) -> dict[str, str]:
    return {"price_in_fri": hex(fri), "price_in_wei": hex(fri * WEI_PER_FRI)}


def _param(params: dict, name: str) -> Any:
    try:
        return params[name]
    except KeyError:
        raise RpcError.invalid_params(f"missing parameter {name!r}") from None


def _felt(value: Any, what: str) -> int:
    try:
        return _as_int(value)
    except (ValueError, TypeError):
        raise RpcError.invalid_params(f"{what} is not a felt: {value!r}") from None


class Methods:
    """The RPC surface of one chain. `dispatch(name, params)` runs a method."""

    def __init__(self, chain: Chain):
        self.chain = chain
        self._table: dict[str, Callable[[dict], Any]] = {
            "starknet_specVersion": lambda p: SPEC_VERSION,
            "starknet_chainId": lambda p: hex(chain.chain_id),
            "starknet_blockNumber": lambda p: chain.latest.number,
            "starknet_blockHashAndNumber": lambda p: {
                "block_hash": hex(chain.latest.hash),
                "block_number": chain.latest.number,
            },
            "starknet_syncing": lambda p: False,
            "starknet_getBlockWithTxHashes": lambda p: self.block(p, full=False),
            "starknet_getBlockWithTxs": lambda p: self.block(p, full=True),
            "starknet_getBlockTransactionCount": self.block_transaction_count,
            "starknet_getEvents": self.get_events,
            "starknet_call": self.call,
            "starknet_getNonce": self.get_nonce,
            "starknet_getClassHashAt": self.get_class_hash_at,
            "starknet_getClass": self.get_class,
            "starknet_getClassAt": self.get_class_at,
            "starknet_getStorageAt": self.get_storage_at,
            "starknet_estimateFee": self.estimate_fee,
            "starknet_addInvokeTransaction": self.add_invoke_transaction,
            "starknet_getTransactionStatus": self.get_transaction_status,
            "starknet_getTransactionReceipt": self.get_transaction_receipt,
            "starknet_getTransactionByHash": self.get_transaction_by_hash,
            "devchain_mine": self.mine,
            "devchain_setAutoMine": self.set_auto_mine,
            "devchain_setTime": lambda p: {
                "timestamp": chain.set_time(int(_param(p, "timestamp")))
            },
            "devchain_increaseTime": lambda p: {
                "timestamp": chain.increase_time(int(_param(p, "seconds")))
            },
            "devchain_reorg": self.reorg,
            "devchain_info": lambda p: chain.info,
            # test and benchmark loads (tests/support/marketplace.py)
            "devchain_addBlocks": self.add_blocks,
        }
        self._param_names = {
            "starknet_getBlockWithTxHashes": ["block_id"],
            "starknet_getBlockWithTxs": ["block_id"],
            "starknet_getBlockTransactionCount": ["block_id"],
            "starknet_getEvents": ["filter"],
            "starknet_call": ["request", "block_id"],
            "starknet_getNonce": ["block_id", "contract_address"],
            "starknet_getClassHashAt": ["block_id", "contract_address"],
            "starknet_getClass": ["block_id", "class_hash"],
            "starknet_getClassAt": ["block_id", "contract_address"],
            "starknet_getStorageAt": ["contract_address", "key", "block_id"],
            "starknet_estimateFee": ["request", "simulation_flags", "block_id"],
            "starknet_addInvokeTransaction": ["invoke_transaction"],
            "starknet_getTransactionStatus": ["transaction_hash"],
            "starknet_getTransactionReceipt": ["transaction_hash"],
            "starknet_getTransactionByHash": ["transaction_hash"],
        }

    def dispatch(self, method: str, params: Any) -> Any:
        handler = self._table.get(method)
        if handler is None:
            raise RpcError(-32601, "Method not found", method)
        if params is None:
            params = {}
        elif isinstance(params, list):  # positional params, in the spec's order
            params = dict(zip(self._param_names.get(method, []), params, strict=False))
        elif not isinstance(params, dict):
            raise RpcError.invalid_params("params must be an object or an array")
        return handler(params)

    # ------------------------------------------------------------------ blocks
    def _block(self, params: dict) -> Block:
        number = self.chain.resolve(_param(params, "block_id"))
        return self.chain.pending_block() if number is None else self.chain.blocks[number]

    def block(self, params: dict, full: bool) -> dict:
        number = self.chain.resolve(_param(params, "block_id"))
        block = self.chain.pending_block() if number is None else self.chain.blocks[number]
        transactions = [
            self._tx_json(tx.raw) if full else hex(tx.hash) for tx in block.transactions
        ]
        header = {
            "block_number": block.number,
            "timestamp": block.timestamp,
            "sequencer_address": hex(SEQUENCER_ADDRESS),
            "l1_gas_price": _price(L1_GAS_PRICE),
            "l2_gas_price": _price(L2_GAS_PRICE),
            "l1_data_gas_price": _price(L1_DATA_GAS_PRICE),
            "l1_da_mode": "BLOB",
            "starknet_version": STARKNET_VERSION,
        }
        if number is None:
            return {**header, "transactions": transactions}
        tx_hashes = [tx.hash for tx in block.transactions]
        return {
            "status": "ACCEPTED_ON_L1" if block.number == 0 else "ACCEPTED_ON_L2",
            "block_hash": hex(block.hash),
            "parent_hash": hex(block.parent_hash),
            "new_root": hex(_commitment(block, "root")),
            **header,
            "event_commitment": hex(_commitment(block, "events")),
            "transaction_commitment": hex(poseidon_hash_many(tx_hashes)),
            "receipt_commitment": hex(_commitment(block, "receipts")),
            "state_diff_commitment": hex(_commitment(block, "state")),
            "event_count": block.event_count,
            "transaction_count": len(block.transactions),
            "state_diff_length": len(block.writes),
            "transactions": transactions,
        }

    def block_transaction_count(self, params: dict) -> int:
        return len(self._block(params).transactions)

    @staticmethod
    def _tx_json(raw: dict) -> dict:
        return {k: v for k, v in raw.items() if k != "proof"}

    # ------------------------------------------------------------------ events
    def get_events(self, params: dict) -> RawResult:
        flt = _param(params, "filter")
        if not isinstance(flt, dict):
            raise RpcError.invalid_params("filter must be an object")
        chunk_size = flt.get("chunk_size")
        if not isinstance(chunk_size, int) or chunk_size < 1:
            raise RpcError.invalid_params("chunk_size must be a positive integer")
        if chunk_size > MAX_CHUNK_SIZE:
            raise RpcError(31, "Requested page size is too big", f"max {MAX_CHUNK_SIZE}")
        keys_filter = flt.get("keys") or []
        if sum(len(k) for k in keys_filter) > MAX_FILTER_KEYS:
            raise RpcError(34, "Too many keys provided in a filter", f"max {MAX_FILTER_KEYS}")
        key_sets = [{_felt(k, "key") for k in alts} if alts else None for alts in keys_filter]
        address = flt.get("address")
        if address is None:
            addresses = None
        elif isinstance(address, list):
            addresses = {_felt(a, "address") for a in address}
        else:
            addresses = {_felt(address, "address")}

        chain = self.chain
        first = chain.resolve(flt.get("from_block", {"block_number": 0}))
        last = chain.resolve(flt.get("to_block", "pre_confirmed"))
        with_pending = last is None
        first = chain.latest.number + 1 if first is None else first
        last = chain.latest.number if last is None else last

        position = 0
        token = flt.get("continuation_token")
        if token is not None:
            if not isinstance(token, str):
                raise RpcError(33, "The supplied continuation token is invalid or unknown")
            first, position = parse_event_token(chain, token)

        def matches(from_address: int, keys: list[int]) -> bool:
            if addresses is not None and from_address not in addresses:
                return False
            for index, wanted in enumerate(key_sets):
                if wanted is not None and (index >= len(keys) or keys[index] not in wanted):
                    return False
            return True

        head = chain.latest.number
        stop = head + 1 if with_pending else last  # the pre-confirmed block counts as head + 1
        page: list[bytes] = []
        next_token: str | None = None
        number = first
        while number <= stop and next_token is None:
            rows = chain.blocks[number].events if number <= head else chain.pending_events()
            for index in range(position, len(rows)):
                from_address, keys, payload = rows[index]
                if matches(from_address, keys):
                    if len(page) == chunk_size:
                        next_token = event_token(chain, number, index)
                        break
                    page.append(payload)
            number += 1
            position = 0
        body = b'{"events":[' + b",".join(page) + b"]"
        if next_token is not None:
            body += b',"continuation_token":"' + next_token.encode() + b'"'
        return RawResult(body + b"}")

    # ------------------------------------------------------------------ state
    def call(self, params: dict) -> list[str]:
        request = _param(params, "request")
        try:
            to = _as_int(request["contract_address"])
            selector = _as_int(request["entry_point_selector"])
            calldata = [_as_int(x) for x in request.get("calldata", [])]
        except (KeyError, TypeError, ValueError) as err:
            raise RpcError.invalid_params(f"malformed call request: {err}") from None
        result = self.chain.call(to, selector, calldata, params.get("block_id", "pre_confirmed"))
        return [hex(x) for x in result]

    def _contract(self, params: dict) -> SimulatedContract:
        address = _felt(_param(params, "contract_address"), "contract_address")
        self.chain.resolve(params.get("block_id", "pre_confirmed"))
        contract = self.chain.contract_at(address)
        if contract is None:
            raise RpcError(20, "Contract not found")
        return contract

    def get_nonce(self, params: dict) -> str:
        contract = self._contract(params)
        number = self.chain.resolve(params.get("block_id", "pre_confirmed"))
        return hex(self.chain.state_at(number).read((contract.address, "__nonce__")))

    def get_class_hash_at(self, params: dict) -> str:
        return hex(self._contract(params).class_hash())

    def get_class_at(self, params: dict) -> dict:
        return _class_json(self._contract(params).abi_name)

    def get_class(self, params: dict) -> dict:
        class_hash = _felt(_param(params, "class_hash"), "class_hash")
        self.chain.resolve(params.get("block_id", "pre_confirmed"))
        for kind in CONTRACT_KINDS.values():
            if kind.class_hash() == class_hash:
                return _class_json(kind.abi_name)
        raise RpcError(28, "Class hash not found")

    def get_storage_at(self, params: dict) -> str:
        contract = self._contract(params)
        key = _felt(_param(params, "key"), "key")
        number = self.chain.resolve(params.get("block_id", "pre_confirmed"))
        state = self.chain.state_at(number)
        for storage_key in self.chain.storage.keys_of(contract.address):
            var, *map_keys = storage_key[1:]
            if var.startswith("__"):
                continue
            base = get_storage_var_address(var, *map_keys)
            if key == base:
                value = state.read(storage_key)
                return hex(value % 2**128 if var in U256_VARIABLES else value)
            if var in U256_VARIABLES and key == base + 1:
                return hex(state.read(storage_key) >> 128)
        return "0x0"

    # ------------------------------------------------------------------ transactions
    def estimate_fee(self, params: dict) -> list[dict]:
        request = _param(params, "request")
        if not isinstance(request, list):
            raise RpcError.invalid_params("request must be a list of transactions")
        flags = params.get("simulation_flags", [])
        return self.chain.estimate(request, "SKIP_VALIDATE" in flags, _param(params, "block_id"))

    def add_invoke_transaction(self, params: dict) -> dict:
        tx = _param(params, "invoke_transaction")
        if not isinstance(tx, dict):
            raise RpcError.invalid_params("invoke_transaction must be an object")
        return {"transaction_hash": hex(self.chain.add_invoke(tx))}

    def _find(self, params: dict) -> tuple[Block, int, bool]:
        return self.chain.find_transaction(
            _felt(_param(params, "transaction_hash"), "transaction_hash")
        )

    def get_transaction_status(self, params: dict) -> dict:
        block, index, pending = self._find(params)
        receipt = block.transactions[index].receipt
        status = {
            "finality_status": "PRE_CONFIRMED" if pending else "ACCEPTED_ON_L2",
            "execution_status": "SUCCEEDED" if receipt.succeeded else "REVERTED",
        }
        if not receipt.succeeded:
            status["failure_reason"] = receipt.revert_reason
        return status

    def get_transaction_receipt(self, params: dict) -> dict:
        block, index, pending = self._find(params)
        tx = block.transactions[index]
        receipt = tx.receipt
        out: dict[str, Any] = {
            "type": "INVOKE",
            "transaction_hash": hex(tx.hash),
            "actual_fee": {"amount": hex(receipt.fee), "unit": "FRI"},
            "execution_status": "SUCCEEDED" if receipt.succeeded else "REVERTED",
            "finality_status": "PRE_CONFIRMED" if pending else "ACCEPTED_ON_L2",
            "block_number": block.number,
            "messages_sent": [],
            "events": [
                {"from_address": hex(f), "keys": [hex(k) for k in ks], "data": [hex(d) for d in ds]}
                for f, ks, ds in receipt.events
            ],
            "execution_resources": {
                "l1_gas": 0,
                "l1_data_gas": receipt.l1_data_gas,
                "l2_gas": receipt.l2_gas,
            },
        }
        if not pending:
            out["block_hash"] = hex(block.hash)
        if not receipt.succeeded:
            out["revert_reason"] = receipt.revert_reason
        return out

    def get_transaction_by_hash(self, params: dict) -> dict:
        block, index, _ = self._find(params)
        return self._tx_json(block.transactions[index].raw)

    # ------------------------------------------------------------------ devchain_*
    def mine(self, params: dict) -> dict:
        count = int(params.get("count", 1))
        if not 1 <= count <= 10_000:
            raise RpcError.invalid_params("count must be in [1, 10000]")
        blocks = self.chain.mine(count)
        return {"blocks": [{"block_number": b.number, "block_hash": hex(b.hash)} for b in blocks]}

    def set_auto_mine(self, params: dict) -> dict:
        self.chain.automine = bool(_param(params, "enabled"))
        if self.chain.automine and self.chain.pending and self.chain.pending.transactions:
            self.chain.mine()
        return {"enabled": self.chain.automine}

    def add_blocks(self, params: dict) -> dict:
        """Blocks of signed INVOKE v3 transactions, each sealed at its timestamp, in one call.

        For loads of many thousand transactions: no round trip per transaction, and the hash
        the sender computed to sign each one is trusted, not computed again. Every transaction
        is validated, executed and journaled as `starknet_addInvokeTransaction` does; each
        comes back as whether it succeeded, its revert reason and its events' (address, first
        key). The clock goes on from the last block.
        """
        blocks = _param(params, "blocks")
        if not isinstance(blocks, list):
            raise RpcError.invalid_params("blocks must be a list")
        chain = self.chain
        if chain.pending is not None and chain.pending.transactions:
            chain.mine()
        automine, chain.automine = chain.automine, False
        added = []
        try:
            for block in blocks:
                timestamp = _param(block, "timestamp")
                if not isinstance(timestamp, int):
                    raise RpcError.invalid_params("a block's timestamp must be an integer")
                chain.set_time(timestamp)
                chain.pending_block().timestamp = timestamp
                for item in _param(block, "transactions"):
                    tx_hash = _felt(_param(item, "transaction_hash"), "transaction_hash")
                    chain.add_invoke(_param(item, "transaction"), trusted_hash=tx_hash)
                (sealed,) = chain.mine()
                added.append(
                    {
                        "block_number": sealed.number,
                        "transactions": [_outcome(tx) for tx in sealed.transactions],
                    }
                )
            chain.set_time(chain.latest.timestamp)
        finally:
            chain.automine = automine
        return {"blocks": added}

    def reorg(self, params: dict) -> dict:
        depth = _param(params, "depth")
        if not isinstance(depth, int):
            raise RpcError.invalid_params("depth must be an integer")
        drop = [_felt(h, "transaction hash") for h in params.get("drop", [])]
        extra = int(params.get("extra_blocks", 0))
        return self.chain.reorg(depth, drop, bool(params.get("reorder", False)), extra)


def _outcome(tx: Transaction) -> dict:
    receipt = tx.receipt
    return {
        "transaction_hash": hex(tx.hash),
        "succeeded": receipt.succeeded,
        "revert_reason": receipt.revert_reason,
        "events": [[hex(address), hex(keys[0])] for address, keys, _ in receipt.events],
    }


def _commitment(block: Block, kind: str) -> int:
    """A stand-in commitment: devchain keeps no Patricia tries, so it hashes the block instead."""
    return poseidon_hash_many([int.from_bytes(kind.encode(), "big"), block.hash])


@cache
def _class_json(abi_name: str) -> dict:
    kind = next(k for k in CONTRACT_KINDS.values() if k.abi_name == abi_name)
    entry_points = [
        {"selector": hex(selector), "function_idx": index}
        for index, (selector, _) in enumerate(sorted(kind.entry_points()))
    ]
    return {
        # devchain runs the contract in Python; the program is a marker, not Sierra bytecode
        "sierra_program": ["0x1", "0x7", "0x0", hex(kind.class_hash())],
        "contract_class_version": "0.1.0",
        "entry_points_by_type": {"CONSTRUCTOR": [], "EXTERNAL": entry_points, "L1_HANDLER": []},
        "abi": json.dumps(load_abi(abi_name)),
    }
