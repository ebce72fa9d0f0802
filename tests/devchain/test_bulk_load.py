"""The marketplace load through devchain_addBlocks: a realistic history of real, signed
transactions that the chain agrees with.

One small load over HTTP (2,000 JobRegistry events, short blocks of long time so that jobs go
through their whole life), then the contract views, getEvents, the transactions and their
signatures are checked against what the loader reported; the codecs and the signer that make
the load fast are compared with starknet-py's.
"""

from __future__ import annotations

import base64
import random
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starknet_py.hash.selector import get_selector_from_name
from starknet_py.hash.utils import message_signature, verify_message_signature
from starknet_py.net.client_models import ResourceBounds, ResourceBoundsMapping
from starknet_py.net.models.transaction import InvokeV3

from devchain.contracts.base import SimulatedContract
from devchain.contracts.codec import event_encoder
from devchain.genesis import open_chain
from devchain.rpc import Methods
from tests.support.chain import Driver, RpcFailure, running_devchain
from tests.support.fast_signing import public_key, sign
from tests.support.marketplace import B58, LoadPlan, cid_v0, cid_v1, load_history, over_http
from veriframe_core.chain.abi import decode_inputs, input_serializer
from veriframe_core.chain.cids import felts_to_cid
from veriframe_core.chain.events import event_codec

EVENTS = 2000
SMALL = {"max_calls_per_tx": 16, "block_time_s": 1800}  # short multicalls, jobs age fast
REGISTRY_EVENTS = event_codec("job_registry").names
SUBMIT_RESULT = get_selector_from_name("submit_result")


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Driver, dict]]:
    with running_devchain(tmp_path_factory.mktemp("bulk"), accounts=24) as driver:
        report = load_history(over_http(driver.url), LoadPlan(events=EVENTS, seed=5, **SMALL))
        yield driver, report


def batch(driver: Driver, requests: list[tuple[str, Any]]) -> list[Any]:
    """Many JSON-RPC requests in one HTTP batch (starknet-py would send them one by one)."""
    body = [
        {"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate(requests)
    ]
    answers = httpx.post(driver.url, json=body, timeout=60).json()
    assert all("result" in a for a in answers), [a for a in answers if "error" in a][:1]
    return [a["result"] for a in sorted(answers, key=lambda a: a["id"])]


def events_of(driver: Driver, address: int, selector: int | None = None) -> list[dict]:
    flt: dict[str, Any] = {"address": hex(address), "chunk_size": 1000, "to_block": "latest"}
    if selector is not None:
        flt["keys"] = [[hex(selector)]]
    out: list[dict] = []
    while True:
        page = driver.rpc("starknet_getEvents", {"filter": flt})
        out += page["events"]
        if "continuation_token" not in page:
            return out
        flt["continuation_token"] = page["continuation_token"]


def view(driver: Driver, function: str, args_list: list[list[int]]) -> list[list[int]]:
    registry = hex(driver.registry.address)
    selector = hex(get_selector_from_name(function))
    results = batch(
        driver,
        [
            (
                "starknet_call",
                {
                    "request": {
                        "contract_address": registry,
                        "entry_point_selector": selector,
                        "calldata": [hex(a) for a in args],
                    },
                    "block_id": "latest",
                },
            )
            for args in args_list
        ],
    )
    return [[int(x, 16) for x in r] for r in results]


def test_the_report_adds_up(loaded: tuple[Driver, dict]) -> None:
    _, report = loaded
    events = report["events"]
    assert report["registry_events"] >= EVENTS
    assert report["registry_events"] == sum(events.get(n, 0) for n in REGISTRY_EVENTS)
    assert report["token_events"] == events["Transfer"] + events["Approval"]
    every_kind = set(REGISTRY_EVENTS) - {"OwnershipTransferred", "OwnershipTransferStarted"}
    assert every_kind <= set(events), every_kind - set(events)
    assert all(n > 0 for n in report["ratings_by_band"].values()), report["ratings_by_band"]
    assert events["JobCreated"] == report["jobs_created"]
    assert events["Transfer"] == events["JobCreated"] + events["JobFinalized"]
    assert 1 < report["transactions"] / report["blocks"] < 12  # several per block
    assert report["calls"] > 2 * report["transactions"]  # multicalls
    assert report["last_block"] - report["first_block"] + 1 == report["blocks"]


def test_get_events_returns_the_reported_counts(loaded: tuple[Driver, dict]) -> None:
    driver, report = loaded
    for address, contract in (
        (driver.registry.address, "job_registry"),
        (driver.token.address, "erc20"),
    ):
        codec = event_codec(contract)  # type: ignore[arg-type]
        for name in codec.names:
            found = events_of(driver, address, codec.selector(name))
            in_load = [e for e in found if e["block_number"] >= report["first_block"]]
            assert len(in_load) == report["events"].get(name, 0), name


def test_contract_views_agree_with_the_events(loaded: tuple[Driver, dict]) -> None:
    driver, report = loaded
    codec = event_codec("job_registry")
    decoded = [
        codec.decode([int(k, 16) for k in e["keys"]], [int(d, 16) for d in e["data"]])
        for e in events_of(driver, driver.registry.address)
    ]
    by_name: dict[str, list[dict]] = {}
    for event in decoded:
        by_name.setdefault(event.name, []).append(event.fields)
    (counter,) = view(driver, "get_job_counter", [[]])[0]
    assert counter == len(by_name["JobCreated"]) == report["jobs_created"]
    assert [e["job_id"] for e in by_name["JobCreated"]] == list(range(1, counter + 1))
    big = [e["reward_amount"] for e in by_name["JobCreated"] if e["reward_amount"] >= 2**64]
    assert big, "no reward above 2**64"

    submitted = by_name["ResultSubmitted"]
    workers = view(driver, "get_job_worker", [[e["job_id"]] for e in submitted])
    assert [w for (w,) in workers] == [e["worker"] for e in submitted]
    finalized = {e["job_id"] for e in by_name["JobFinalized"]}
    assert finalized <= {e["job_id"] for e in submitted}
    ids = [e["job_id"] for e in by_name["JobCreated"]]
    completed = view(driver, "is_job_completed", [[i] for i in ids])
    assert {i for i, (c,) in zip(ids, completed, strict=True) if c} == finalized

    completed_by: Counter[int] = Counter()
    failed_by: Counter[int] = Counter()
    for e in by_name["ReputationUpdated"]:
        (completed_by if e["quality_score"] >= 60 else failed_by)[e["worker"]] += 1
    for e in by_name["ReputationSlashed"]:
        failed_by[e["worker"]] += 1
    registered = [e["worker"] for e in by_name["WorkerRegistered"]]
    statuses = view(driver, "get_worker_status", [[w] for w in registered])
    last_reputation = {}
    for name, event in ((e.name, e.fields) for e in decoded):
        if name in ("ReputationUpdated", "ReputationSlashed"):
            last_reputation[event["worker"]] = event["new_reputation"]
    for worker, (_, reputation, done, failed) in zip(registered, statuses, strict=True):
        assert (done, failed) == (completed_by[worker], failed_by[worker]), hex(worker)
        assert 1 <= reputation <= 1000
    assert any(last_reputation.values())


def test_transactions_are_real_and_signed(loaded: tuple[Driver, dict]) -> None:
    driver, _ = loaded
    keys = {int(a["address"], 16): int(a["public_key"], 16) for a in driver.info["accounts"]}
    events = events_of(
        driver, driver.registry.address, event_codec("job_registry").selector("ResultSubmitted")
    )
    hashes = sorted({e["transaction_hash"] for e in events})
    sample = random.Random(1).sample(hashes, 4)
    txs = batch(
        driver, [("starknet_getTransactionByHash", {"transaction_hash": h}) for h in sample]
    )
    receipts = batch(
        driver, [("starknet_getTransactionReceipt", {"transaction_hash": h}) for h in sample]
    )
    for tx_hash, tx, receipt in zip(sample, txs, receipts, strict=True):
        bounds = {
            name: ResourceBounds(int(b["max_amount"], 16), int(b["max_price_per_unit"], 16))
            for name, b in tx["resource_bounds"].items()
        }
        invoke = InvokeV3(
            version=3,
            signature=[int(x, 16) for x in tx["signature"]],
            nonce=int(tx["nonce"], 16),
            resource_bounds=ResourceBoundsMapping(**bounds),
            tip=int(tx["tip"], 16),
            calldata=[int(x, 16) for x in tx["calldata"]],
            sender_address=int(tx["sender_address"], 16),
        )
        assert invoke.calculate_hash(driver.chain_id) == int(tx_hash, 16)
        assert verify_message_signature(
            int(tx_hash, 16), invoke.signature, keys[invoke.sender_address]
        )
        assert receipt["execution_status"] == "SUCCEEDED"
        assert receipt["finality_status"] == "ACCEPTED_ON_L2"
        used = receipt["execution_resources"]["l2_gas"]
        assert used <= int(tx["resource_bounds"]["l2_gas"]["max_amount"], 16)
        calls = decode_inputs(input_serializer("account", "__execute__"), invoke.calldata)
        submits = [c for c in calls["calls"] if c["selector"] == SUBMIT_RESULT]
        assert submits
        for call in submits:
            cid = felts_to_cid(call["calldata"][1], call["calldata"][2])
            assert (cid.startswith("Qm") and len(cid) == 46) or (
                cid.startswith("bafy") and len(cid) == 59
            )


def test_the_only_reverts_are_the_deliberate_lost_races(loaded: tuple[Driver, dict]) -> None:
    driver, report = loaded
    numbers = range(report["first_block"], report["last_block"] + 1)
    blocks = batch(
        driver,
        [("starknet_getBlockWithTxHashes", {"block_id": {"block_number": n}}) for n in numbers],
    )
    hashes = [h for block in blocks for h in block["transactions"]]
    assert len(hashes) == report["transactions"]
    receipts = batch(
        driver, [("starknet_getTransactionReceipt", {"transaction_hash": h}) for h in hashes]
    )
    reverted = [r for r in receipts if r["execution_status"] == "REVERTED"]
    assert len(reverted) == report["reverted"]
    assert all("Job already has a worker" in r["revert_reason"] for r in reverted)


def test_after_the_load_the_chain_runs_as_before(loaded: tuple[Driver, dict]) -> None:
    driver, report = loaded
    head = driver.rpc("starknet_blockNumber")
    assert head == report["last_block"]
    latest = driver.rpc("starknet_getBlockWithTxHashes", {"block_id": "latest"})
    assert driver.now() >= latest["timestamp"]
    receipt = driver.send(driver.owner, driver.reg("pause"), driver.reg("unpause"))
    assert receipt.block_number == head + 1  # auto-mining is back on


def test_bad_parameters_are_refused(loaded: tuple[Driver, dict]) -> None:
    driver, _ = loaded
    for params in (
        {},
        {"blocks": 3},
        {"blocks": [{"transactions": []}]},
        {"blocks": [{"timestamp": "x", "transactions": []}]},
    ):
        with pytest.raises(RpcFailure) as failure:
            driver.rpc("devchain_addBlocks", params)
        assert failure.value.code == -32602
    for plan in ({"events": 0}, {"events": 10, "signers": 9}, {"events": 10, "block_time_s": 0}):
        with pytest.raises(ValueError):
            LoadPlan(**plan)


def test_same_seed_same_chain_and_the_journal_keeps_it(tmp_path: Path) -> None:
    plan = LoadPlan(events=300, seed=3, start_time=1_900_000_000, **SMALL)
    runs = []
    for folder in ("a", "b"):
        chain = open_chain(tmp_path / folder, "SN_DEVCHAIN", seed=11, n_accounts=12)
        report = load_history(Methods(chain).dispatch, plan)  # in this process, no HTTP
        runs.append(([tx.hash for b in chain.blocks for tx in b.transactions], report))
        head = chain.latest.hash
        chain.close()
        again = open_chain(tmp_path / folder, "SN_DEVCHAIN", seed=11, n_accounts=12)
        assert again.latest.hash == head
        again.close()
    (hashes_a, report_a), (hashes_b, report_b) = runs
    assert hashes_a == hashes_b and len(hashes_a) == report_a["transactions"]
    assert report_a["events"] == report_b["events"]


def test_signer_matches_starknet_py() -> None:
    rng = random.Random(2)
    for _ in range(2):  # starknet-py's own signing takes ~160 ms each
        key, msg = rng.randrange(1, 2**251), rng.randrange(2**251)
        assert sign(msg, key) == tuple(message_signature(msg, key))
        assert verify_message_signature(msg, list(sign(msg, key)), public_key(key))


def test_fast_codecs_match_starknet_py() -> None:
    rng = random.Random(4)
    for contract in SimulatedContract.__subclasses__():
        for selector, entry in contract._entries.items():
            if entry.fast_inputs is None:
                continue
            calldata = _sample_calldata(entry.name, rng)
            if calldata is None:
                continue
            assert entry.decode(calldata) == decode_inputs(entry.inputs, calldata), entry.name
            with pytest.raises(Exception):  # noqa: B017 - both reject leftovers
                entry.decode([*calldata, 1])
            assert selector
    for contract_name in ("job_registry", "erc20"):
        codec = event_codec(contract_name)  # type: ignore[arg-type]
        for name in codec.names:
            fields = _sample_event(contract_name, name, rng)
            assert event_encoder(contract_name, name)(fields) == codec.encode(name, **fields)


def test_cids_are_real_ipfs_cids() -> None:
    known_v0 = "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG"  # the go-ipfs readme
    number = 0
    for char in known_v0:
        number = number * 58 + B58.index(char)
    multihash = number.to_bytes(34, "big")
    assert multihash[:2] == b"\x12\x20"
    assert cid_v0(multihash[2:]) == known_v0
    v1 = cid_v1(multihash[2:])
    assert v1.startswith("bafybei") and len(v1) == 59
    padded = v1[1:].upper() + "=" * (-len(v1[1:]) % 8)
    assert base64.b32decode(padded) == b"\x01\x70" + multihash  # CIDv1, dag-pb, same hash


def _sample_calldata(name: str, rng: random.Random) -> list[int] | None:
    samples: dict[str, list[int]] = {
        "create_job": [1, 2, 3, 4, 1000],
        "create_job_with_requirements": [1, 2, 2**128 - 1, 7, 1000, 600],
        "submit_result": [5, 6, 7],
        "finalize_job": [9],
        "register_worker": [rng.randrange(2**250)],
        "verify_worker": [rng.randrange(2**250), 1],
        "update_worker_reputation": [rng.randrange(2**250), 4, 95],
        "slash_worker_reputation": [rng.randrange(2**250), 40],
        "approve": [rng.randrange(2**250), 5, 6],
        "transfer_from": [1, 2, 3, 0],
        "__execute__": [2, 10, 11, 2, 12, 13, 14, 15, 0],
        "__validate__": [1, 10, 11, 1, 12],
    }
    return samples.get(name)


def _sample_event(contract: str, name: str, rng: random.Random) -> dict[str, Any]:
    felt = rng.randrange(2**250)
    samples: dict[str, dict[str, Any]] = {
        "JobCreated": {"job_id": 3, "creator": felt, "reward_amount": 2**130 + 5, "deadline": 99},
        "ResultSubmitted": {"job_id": 3, "worker": felt},
        "JobFinalized": {"job_id": 3, "worker": felt, "reward_amount": 2**64},
        "WorkerRegistered": {"worker": felt, "info_cid": 77, "registration_time": 12},
        "WorkerVerified": {"worker": felt, "verified": True, "verifier": 5},
        "ReputationUpdated": {
            "worker": felt, "job_id": 1, "old_reputation": 500, "new_reputation": 520,
            "quality_score": 95,
        },
        "ReputationSlashed": {
            "worker": felt, "old_reputation": 500, "new_reputation": 400, "slash_amount": 100,
            "reason": 0x6D6973,
        },
        "OwnershipTransferred": {"previous_owner": 0, "new_owner": felt},
        "OwnershipTransferStarted": {"previous_owner": 1, "new_owner": felt},
        "Paused": {"account": felt},
        "Unpaused": {"account": felt},
        "Transfer": {"from": 0, "to": felt, "value": 2**200},
        "Approval": {"owner": felt, "spender": 9, "value": 1},
    }  # fmt: skip
    return samples[name]
