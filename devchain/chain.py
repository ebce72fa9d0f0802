"""The chain: blocks, the pre-confirmed block, transactions, the clock, reorgs and persistence.

Transactions are executed when they arrive, into the pre-confirmed block (as a StarkNet
sequencer does); with auto-mining on (the default) that block is sealed at once. A sealed
block is appended to a journal in the state folder, so the chain survives a restart.
"""

from __future__ import annotations

import dataclasses
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from poseidon_py.poseidon_hash import poseidon_hash_many
from starknet_py.hash.selector import get_selector_from_name
from starknet_py.net.client_models import ResourceBounds, ResourceBoundsMapping
from starknet_py.net.models.transaction import InvokeV3

from devchain.contracts.account import Account
from devchain.contracts.base import Execution, Frame, Revert, SimulatedContract
from devchain.contracts.erc20 import Erc20
from devchain.contracts.job_registry import JobRegistry
from devchain.errors import RpcError
from devchain.state import StorageKey, TxState, VersionedStorage

QUERY_VERSION_BASE = 2**128
STARKNET_VERSION = "0.14.1"
SEQUENCER_ADDRESS = 0x1176A1BD84444C89232EC27754698E5D2E7E1A7F1539F12027F28B23EC9F3D8
L1_GAS_PRICE = 10**12  # prices in FRI
L1_DATA_GAS_PRICE = 10**9
L2_GAS_PRICE = 10**9
VALIDATE = get_selector_from_name("__validate__")
EXECUTE = get_selector_from_name("__execute__")
CONTRACT_KINDS: dict[str, type[SimulatedContract]] = {
    "account": Account,
    "erc20": Erc20,
    "job_registry": JobRegistry,
}


@dataclass
class Receipt:
    """What a transaction did: status, reason, events (from, keys, data) and gas."""

    succeeded: bool
    revert_reason: str | None
    events: list[tuple[int, list[int], list[int]]]
    l2_gas: int
    l1_data_gas: int

    @property
    def fee(self) -> int:
        return self.l2_gas * L2_GAS_PRICE + self.l1_data_gas * L1_DATA_GAS_PRICE

    def to_json(self) -> dict:
        return {
            "ok": self.succeeded,
            "reason": self.revert_reason,
            "events": [[hex(f), _hexes(k), _hexes(d)] for f, k, d in self.events],
            "l2": self.l2_gas,
            "l1d": self.l1_data_gas,
        }

    @classmethod
    def from_json(cls, raw: dict) -> Receipt:
        events = [(int(f, 16), _ints(k), _ints(d)) for f, k, d in raw["events"]]
        return cls(raw["ok"], raw["reason"], events, raw["l2"], raw["l1d"])


@dataclass
class Transaction:
    """An accepted INVOKE v3 transaction, kept as the RPC object it arrived as."""

    hash: int
    sender: int
    nonce: int
    raw: dict  # the broadcasted fields, as received (hex strings)
    receipt: Receipt


@dataclass
class Block:
    number: int
    timestamp: int
    transactions: list[Transaction] = field(default_factory=list)
    writes: dict[StorageKey, int] = field(default_factory=dict)
    hash: int = 0
    parent_hash: int = 0
    # getEvents index: (from_address, keys, pre-encoded JSON of the emitted event)
    events: list[tuple[int, list[int], bytes]] = field(default_factory=list)

    @property
    def event_count(self) -> int:
        return sum(len(tx.receipt.events) for tx in self.transactions)


@dataclass(frozen=True)
class DevAccount:
    address: int
    private_key: int
    public_key: int


def _felt_list(values: list[Any]) -> list[int]:
    return [_as_int(v) for v in values]


class Chain:
    """One devchain: its blocks, state, contracts, clock and journal."""

    def __init__(self, chain_id: int, state_dir: Path | None = None):
        self.chain_id = chain_id
        self.storage = VersionedStorage()
        self.contracts: dict[int, SimulatedContract] = {}
        self.blocks: list[Block] = []
        self.by_hash: dict[int, int] = {}
        self.tx_location: dict[int, tuple[int | None, int]] = {}  # hash -> (block or None, index)
        self.pending: Block | None = None
        self.automine = True
        self.time_offset = 0
        self.generation = 0  # bumped by every reorg so replaced blocks get new hashes
        self.info: dict[str, Any] = {}
        self._journal_path = state_dir / "chain.jsonl" if state_dir else None
        self._journal = None

    # ------------------------------------------------------------------ clock & heads
    def now(self) -> int:
        return int(time.time()) + self.time_offset

    @property
    def latest(self) -> Block:
        return self.blocks[-1]

    def set_time(self, timestamp: int) -> int:
        self.time_offset = timestamp - int(time.time())
        self._append({"k": "clock", "offset": self.time_offset})
        self._refresh_pending_time()
        return self.now()

    def increase_time(self, seconds: int) -> int:
        self.time_offset += seconds
        self._append({"k": "clock", "offset": self.time_offset})
        self._refresh_pending_time()
        return self.now()

    def _refresh_pending_time(self) -> None:
        if self.pending is not None and not self.pending.transactions:
            self.pending.timestamp = max(self.now(), self.latest.timestamp)

    def pending_block(self) -> Block:
        if self.pending is None:
            self.pending = Block(
                number=self.latest.number + 1, timestamp=max(self.now(), self.latest.timestamp)
            )
        return self.pending

    # ------------------------------------------------------------------ block ids
    def resolve(self, block_id: Any) -> int | None:
        """The block number a BLOCK_ID names; None means the pre-confirmed block."""
        if block_id == "latest":
            return self.latest.number
        if block_id == "l1_accepted":
            return 0  # devchain has no L1: only genesis is final
        if block_id in ("pre_confirmed", None):
            return None
        if isinstance(block_id, dict):
            if "block_number" in block_id:
                number = block_id["block_number"]
                if not isinstance(number, int) or not 0 <= number <= self.latest.number:
                    raise RpcError.block_not_found()
                return number
            if "block_hash" in block_id:
                number = self.by_hash.get(_as_int(block_id["block_hash"]))
                if number is None:
                    raise RpcError.block_not_found()
                return number
        raise RpcError.invalid_params(f"invalid block_id {block_id!r}")

    def state_at(self, block: int | None) -> TxState:
        """A read view of the state at the end of `block` (None: including pre-confirmed)."""
        if block is None:
            pending = self.pending
            return TxState(self.storage, self.latest.number, pending.writes if pending else {})
        return TxState(self.storage, block, {})

    def timestamp_of(self, block: int | None) -> int:
        return self.pending_block().timestamp if block is None else self.blocks[block].timestamp

    def contract_at(self, address: int) -> SimulatedContract | None:
        return self.contracts.get(address)

    # ------------------------------------------------------------------ genesis
    def deploy(self, kind: str, address: int) -> None:
        self.contracts[address] = CONTRACT_KINDS[kind](address)
        self.info.setdefault("deployments", {})[hex(address)] = kind

    def genesis(self, accounts: list[DevAccount], token: int, registry: int, funding: int) -> None:
        """Block 0: the accounts, the reward token (funding every account) and the registry."""
        block = Block(number=0, timestamp=self.now())
        state = TxState(self.storage, 0, {})
        execution = Execution(self, state, 0, block.timestamp)
        for account in accounts:
            self.deploy("account", account.address)
            state.write((account.address, "public_key"), account.public_key)
        self.deploy("erc20", token)
        self.deploy("job_registry", registry)
        token_contract = self.contracts[token]
        registry_contract = self.contracts[registry]
        for account in accounts:
            token_contract.mint(Frame(execution, token_contract, 0), account.address, funding)
        registry_contract.initialize(
            Frame(execution, registry_contract, 0), accounts[0].address, token
        )
        block.writes = state.writes
        self._seal(block)
        self._append(
            {"k": "genesis", "chain_id": hex(self.chain_id), "info": self.info},
            _block_record(block),
        )

    # ------------------------------------------------------------------ transactions
    def invoke_from_rpc(self, tx: dict, *, query: bool = False) -> InvokeV3:
        """starknet-py's own InvokeV3 built from a broadcasted INVOKE (to hash it the same way)."""
        if tx.get("type") != "INVOKE":
            raise RpcError(61, "The transaction version is not supported", "only INVOKE v3")
        version = _as_int(tx.get("version", "0x0"))
        if version not in ((3, 3 + QUERY_VERSION_BASE) if query else (3,)):
            raise RpcError(61, "The transaction version is not supported", f"{version:#x}")
        try:
            bounds = tx["resource_bounds"]
            mapping = ResourceBoundsMapping(
                **{
                    name: ResourceBounds(
                        max_amount=_as_int(bounds[name]["max_amount"]),
                        max_price_per_unit=_as_int(bounds[name]["max_price_per_unit"]),
                    )
                    for name in ("l1_gas", "l2_gas", "l1_data_gas")
                }
            )
            invoke = InvokeV3(
                version=version,
                signature=_felt_list(tx.get("signature", [])),
                nonce=_as_int(tx["nonce"]),
                resource_bounds=mapping,
                tip=_as_int(tx.get("tip", "0x0")),
                calldata=_felt_list(tx["calldata"]),
                sender_address=_as_int(tx["sender_address"]),
                account_deployment_data=_felt_list(tx.get("account_deployment_data", [])),
                proof_facts=_felt_list(tx["proof_facts"]) if tx.get("proof_facts") else None,
            )
        except (KeyError, TypeError, ValueError) as err:
            raise RpcError.invalid_params(f"malformed INVOKE v3 transaction: {err}") from None
        if tx.get("paymaster_data"):
            raise RpcError(61, "The transaction version is not supported", "paymaster_data")
        return invoke

    def add_invoke(self, tx: dict, trusted_hash: int | None = None) -> int:
        """Validate and execute an INVOKE v3 into the pre-confirmed block; returns its hash.

        `trusted_hash` is the hash the sender computed to sign (`devchain_addBlocks`):
        hashing the calldata (Poseidon, about 50 µs per felt) is the largest cost of a bulk
        load, so it is not computed twice.
        """
        invoke = self.invoke_from_rpc(tx)
        tx_hash = invoke.calculate_hash(self.chain_id) if trusted_hash is None else trusted_hash
        if tx_hash in self.tx_location:
            raise RpcError(59, "A transaction with the same hash already exists in the mempool")
        block = self.pending_block()
        if invoke.resource_bounds.l2_gas.max_price_per_unit < L2_GAS_PRICE:
            raise RpcError(
                53,
                "The transaction's resources don't cover validation or the minimal transaction fee",
                f"max L2 gas price {invoke.resource_bounds.l2_gas.max_price_per_unit} is below "
                f"the block's {L2_GAS_PRICE}",
            )
        receipt = self._run(invoke, tx_hash, block, validate=True)
        raw = {**tx, "transaction_hash": hex(tx_hash)}
        transaction = Transaction(tx_hash, invoke.sender_address, invoke.nonce, raw, receipt)
        block.transactions.append(transaction)
        self.tx_location[tx_hash] = (None, len(block.transactions) - 1)
        if self.automine:
            self.mine()
        return tx_hash

    def _run(self, invoke: InvokeV3, tx_hash: int, block: Block, *, validate: bool) -> Receipt:
        """Validate (nonce, signature) and execute a transaction on top of `block`."""
        account = self.contracts.get(invoke.sender_address)
        if not isinstance(account, Account):
            raise RpcError(55, "Account validation failed", "sender is not a deployed account")
        nonce_key = (invoke.sender_address, "__nonce__")
        base = TxState(self.storage, self.latest.number, block.writes)
        if invoke.nonce != base.read(nonce_key):
            raise RpcError(
                52,
                "Invalid transaction nonce",
                f"account nonce is {base.read(nonce_key)}, transaction nonce is {invoke.nonce}",
            )
        execution = Execution(
            self,
            TxState(self.storage, self.latest.number, block.writes),
            block.number,
            block.timestamp,
            tx_hash,
            list(invoke.signature),
            invoke.version,
        )
        if validate:
            try:
                execution.call(0, account.address, VALIDATE, invoke.calldata)
            except Revert as revert:
                raise RpcError(55, "Account validation failed", revert.describe()) from None
        execution.events.clear()
        reason: str | None = None
        try:
            execution.call(0, account.address, EXECUTE, invoke.calldata)
        except Revert as revert:
            reason = revert.describe()
        l2_gas = 50_000 + 20_000 * execution.steps + 100 * len(invoke.calldata)
        l1_data_gas = 128 + 64 * len(execution.state.writes)
        max_l2_gas = invoke.resource_bounds.l2_gas.max_amount
        if reason is None and l2_gas > max_l2_gas:
            reason = f"Insufficient max L2Gas: used {l2_gas}, max {max_l2_gas}"
        ok = reason is None
        if ok:
            block.writes.update(execution.state.writes)
        block.writes[nonce_key] = invoke.nonce + 1
        return Receipt(ok, reason, execution.events if ok else [], l2_gas, l1_data_gas)

    def estimate(self, txs: list[dict], skip_validate: bool, block_id: Any) -> list[dict]:
        """Fee estimates for a list of transactions, executed in order without being kept."""
        number = self.resolve(block_id)
        if number is not None and number != self.latest.number:
            raise RpcError.invalid_params("devchain estimates fees on latest/pre_confirmed only")
        scratch = Block(
            number=self.latest.number + 1,
            timestamp=self.pending_block().timestamp,
            writes=dict(self.pending.writes) if number is None and self.pending else {},
        )
        out = []
        for index, tx in enumerate(txs):
            invoke = self.invoke_from_rpc(tx, query=True)
            tx_hash = invoke.calculate_hash(self.chain_id)
            unlimited = dataclasses.replace(invoke, resource_bounds=_UNLIMITED)
            try:
                receipt = self._run(unlimited, tx_hash, scratch, validate=not skip_validate)
            except RpcError as err:
                raise RpcError(
                    41,
                    "Transaction execution error",
                    {"transaction_index": index, "execution_error": f"{err.message}: {err.data}"},
                ) from None
            if not receipt.succeeded:
                raise RpcError(
                    41,
                    "Transaction execution error",
                    {"transaction_index": index, "execution_error": receipt.revert_reason},
                )
            out.append(
                {
                    "l1_gas_consumed": "0x0",
                    "l1_gas_price": hex(L1_GAS_PRICE),
                    "l2_gas_consumed": hex(receipt.l2_gas),
                    "l2_gas_price": hex(L2_GAS_PRICE),
                    "l1_data_gas_consumed": hex(receipt.l1_data_gas),
                    "l1_data_gas_price": hex(L1_DATA_GAS_PRICE),
                    "overall_fee": hex(receipt.fee),
                    "unit": "FRI",
                }
            )
        return out

    def call(self, to: int, selector: int, calldata: list[int], block_id: Any) -> list[int]:
        number = self.resolve(block_id)
        if to not in self.contracts:  # everything devchain runs is deployed at genesis
            raise RpcError(20, "Contract not found")
        execution = Execution(
            self,
            self.state_at(number),
            number if number is not None else self.latest.number + 1,
            self.timestamp_of(number),
        )
        try:
            return execution.call(0, to, selector, calldata)
        except Revert as revert:
            if revert.reason == "ENTRYPOINT_NOT_FOUND" and revert.contract == to:
                raise RpcError(21, "Requested entrypoint does not exist in the contract") from None
            raise RpcError(40, "Contract error", {"revert_error": revert.describe()}) from None

    # ------------------------------------------------------------------ blocks
    def mine(self, count: int = 1) -> list[Block]:
        """Seal the pre-confirmed block (even empty), then `count - 1` empty blocks."""
        sealed = []
        for _ in range(count):
            block = self.pending_block()
            self.pending = None
            block.timestamp = max(block.timestamp, self.latest.timestamp)
            self._seal(block)
            self._append(_block_record(block))
            sealed.append(block)
        return sealed

    def _seal(self, block: Block) -> None:
        parent = self.blocks[-1].hash if self.blocks else 0
        block.parent_hash = parent
        block.hash = poseidon_hash_many(
            [
                block.number,
                parent,
                block.timestamp,
                self.generation,
                self.chain_id,
                len(block.transactions),
                *(tx.hash for tx in block.transactions),
            ]
        ) % (2**251)
        self.storage.commit(block.number, block.writes)
        self.blocks.append(block)
        self.by_hash[block.hash] = block.number
        for index, tx in enumerate(block.transactions):
            self.tx_location[tx.hash] = (block.number, index)
        block.events = self._index_events(block)

    def _index_events(
        self, block: Block, pending: bool = False
    ) -> list[tuple[int, list[int], bytes]]:
        rows = []
        location = {} if pending else {"block_hash": hex(block.hash), "block_number": block.number}
        for tx_index, tx in enumerate(block.transactions):
            for event_index, (from_address, keys, data) in enumerate(tx.receipt.events):
                payload = {
                    "from_address": hex(from_address),
                    "keys": [hex(k) for k in keys],
                    "data": [hex(d) for d in data],
                    **location,
                    "transaction_hash": hex(tx.hash),
                    "transaction_index": tx_index,
                    "event_index": event_index,
                }
                rows.append((from_address, keys, orjson.dumps(payload)))
        return rows

    def pending_events(self) -> list[tuple[int, list[int], bytes]]:
        return self._index_events(self.pending, pending=True) if self.pending else []

    # ------------------------------------------------------------------ reorg
    def reorg(self, depth: int, drop: list[int], reorder: bool, extra_blocks: int) -> dict:
        """Replace the last `depth` blocks by a different chain.

        Their transactions are executed again in new blocks (new hashes), minus `drop`, and
        with `reorder` the senders' transactions are interleaved in reverse order (each
        account's own nonce order is kept, as a sequencer must). A transaction that no
        longer validates (its nonce now has a gap) is dropped too.
        """
        if not 1 <= depth <= self.latest.number:
            raise RpcError.invalid_params(f"depth must be in [1, {self.latest.number}]")
        if self.pending is not None and self.pending.transactions:
            self.mine()
        fork = self.latest.number - depth
        old_head = self.latest
        removed = self.blocks[fork + 1 :]
        self._rollback_to(fork)
        self.generation += 1
        self._append({"k": "reorg", "fork": fork, "generation": self.generation})
        drop_set = set(drop)
        dropped = [tx.hash for b in removed for tx in b.transactions if tx.hash in drop_set]
        replayed = 0
        for block in removed:
            txs = [tx for tx in block.transactions if tx.hash not in drop_set]
            if reorder:
                txs = _reorder_keeping_nonces(txs)
            new_block = self.pending_block()
            new_block.timestamp = max(block.timestamp, self.latest.timestamp)
            for tx in txs:
                invoke = self.invoke_from_rpc(tx.raw)
                try:
                    receipt = self._run(invoke, tx.hash, new_block, validate=True)
                except RpcError:
                    dropped.append(tx.hash)
                    continue
                new_block.transactions.append(
                    Transaction(tx.hash, tx.sender, tx.nonce, tx.raw, receipt)
                )
                replayed += 1
            self.mine()
        if extra_blocks:
            self.mine(extra_blocks)
        return {
            "fork_block_number": fork,
            "fork_block_hash": hex(self.blocks[fork].hash),
            "old_head": {"block_number": old_head.number, "block_hash": hex(old_head.hash)},
            "new_head": {"block_number": self.latest.number, "block_hash": hex(self.latest.hash)},
            "replayed": replayed,
            "dropped": [hex(h) for h in dropped],
        }

    def _rollback_to(self, fork: int) -> None:
        for block in self.blocks[fork + 1 :]:
            self.storage.rollback(fork, block.writes)
            del self.by_hash[block.hash]
            for tx in block.transactions:
                self.tx_location.pop(tx.hash, None)
        del self.blocks[fork + 1 :]
        self.pending = None

    # ------------------------------------------------------------------ journal
    def _append(self, *records: dict) -> None:
        """Append records to the journal (one JSON line each) and flush them."""
        if self._journal_path is None:
            return
        if self._journal is None:
            self._journal_path.parent.mkdir(parents=True, exist_ok=True)
            self._journal = self._journal_path.open("ab")
        self._journal.write(b"".join(orjson.dumps(r) + b"\n" for r in records))
        self._journal.flush()

    def close(self) -> None:
        if self._journal is not None:
            self._journal.close()
            self._journal = None

    def load(self) -> bool:
        """Rebuild the chain from its journal; False when there is none yet."""
        if self._journal_path is None or not self._journal_path.exists():
            return False
        good_bytes = 0
        with self._journal_path.open("rb") as journal:
            for line in journal:
                if not line.endswith(b"\n"):
                    break  # torn by a crash mid-write: that block was never acknowledged
                good_bytes += len(line)
                record = orjson.loads(line)
                kind = record["k"]
                if kind == "genesis":
                    self.info = record["info"]
                    for address, contract in self.info["deployments"].items():
                        self.contracts[int(address, 16)] = CONTRACT_KINDS[contract](
                            int(address, 16)
                        )
                elif kind == "block":
                    self._replay_block(record)
                elif kind == "clock":
                    self.time_offset = record["offset"]
                elif kind == "reorg":
                    self._rollback_to(record["fork"])
                    self.generation = record["generation"]
        if good_bytes < self._journal_path.stat().st_size:
            with self._journal_path.open("r+b") as journal:
                journal.truncate(good_bytes)  # later appends must start on a clean line
        return bool(self.blocks)

    def _replay_block(self, record: dict) -> None:
        block = Block(number=record["n"], timestamp=record["ts"])
        for raw_tx in record["txs"]:
            raw = raw_tx["raw"]
            block.transactions.append(
                Transaction(
                    _as_int(raw["transaction_hash"]),
                    _as_int(raw["sender_address"]),
                    _as_int(raw["nonce"]),
                    raw,
                    Receipt.from_json(raw_tx["r"]),
                )
            )
        block.writes = {
            (int(address, 16), var, *_ints(keys)): int(value, 16)
            for address, var, keys, value in record["w"]
        }
        self._seal(block)

    # ------------------------------------------------------------------ look-ups
    def find_transaction(self, tx_hash: int) -> tuple[Block, int, bool]:
        """(block, index, is_pre_confirmed) of a transaction; error 29 when unknown."""
        location = self.tx_location.get(tx_hash)
        if location is None:
            raise RpcError(29, "Transaction hash not found")
        number, index = location
        if number is None:
            assert self.pending is not None
            return self.pending, index, True
        return self.blocks[number], index, False


def _block_record(block: Block) -> dict:
    """A sealed block as a journal line: its transactions with receipts, and its writes."""
    return {
        "k": "block",
        "n": block.number,
        "ts": block.timestamp,
        "txs": [{"raw": tx.raw, "r": tx.receipt.to_json()} for tx in block.transactions],
        "w": [
            [hex(key[0]), key[1], _hexes(key[2:]), hex(value)]
            for key, value in block.writes.items()
        ],
    }


_UNLIMITED = ResourceBoundsMapping(
    l1_gas=ResourceBounds(max_amount=2**64 - 1, max_price_per_unit=2**128 - 1),
    l2_gas=ResourceBounds(max_amount=2**64 - 1, max_price_per_unit=2**128 - 1),
    l1_data_gas=ResourceBounds(max_amount=2**64 - 1, max_price_per_unit=2**128 - 1),
)


def _reorder_keeping_nonces(txs: list[Transaction]) -> list[Transaction]:
    """Interleave senders in reverse order of first appearance, each sender's txs in order."""
    queues: dict[int, list[Transaction]] = {}
    for tx in txs:
        queues.setdefault(tx.sender, []).append(tx)
    order = list(reversed(queues))
    out: list[Transaction] = []
    while any(queues.values()):
        for sender in order:
            if queues[sender]:
                out.append(queues[sender].pop(0))
    return out


def _hexes(values: Any) -> list[str]:
    return [hex(v) for v in values]


def _ints(values: list[str]) -> list[int]:
    return [int(v, 16) for v in values]


def _as_int(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        return int(value, 16) if value.lower().startswith("0x") else int(value)
    raise ValueError(f"{value!r} is not a number")


def event_token(chain: Chain, number: int, position: int) -> str:
    """An opaque continuation token, bound to the block hash so a reorg invalidates it.

    Block `head + 1` is the pre-confirmed block (hash 0 until it is sealed).
    """
    block_hash = chain.blocks[number].hash if number <= chain.latest.number else 0
    check = zlib.crc32(f"{number}:{position}:{block_hash}".encode())
    return f"{number}-{position}-{check:08x}"


def parse_event_token(chain: Chain, token: str) -> tuple[int, int]:
    """(block number, event position) of a token; error 33 when it is not one of ours."""
    invalid = RpcError(33, "The supplied continuation token is invalid or unknown")
    try:
        number_text, position_text, _ = token.split("-")
        number, position = int(number_text), int(position_text)
    except ValueError:
        raise invalid from None
    if not 0 <= number <= chain.latest.number + 1 or position < 0:
        raise invalid
    if event_token(chain, number, position) != token:
        raise invalid
    return number, position
