"""The event codec, CID felts and address normalisation: round trips and refusals."""

from __future__ import annotations

import pytest
from starknet_py.hash.selector import get_selector_from_name

from veriframe_core.chain.addresses import normalize_address, parse_felt
from veriframe_core.chain.cids import CidEncodingError, cid_to_felts, felts_to_cid
from veriframe_core.chain.events import EventDecodeError, event_codec

CIDV0 = "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG"
CIDV1 = "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi"


def test_every_registry_event_round_trips() -> None:
    codec = event_codec("job_registry")
    samples = {
        "JobCreated": {"job_id": 7, "creator": 0xABC, "reward_amount": 2**200 + 5, "deadline": 99},
        "ResultSubmitted": {"job_id": 7, "worker": 0xDEF},
        "JobFinalized": {"job_id": 7, "worker": 0xDEF, "reward_amount": 10**18},
        "WorkerRegistered": {"worker": 0xDEF, "info_cid": 0x1234, "registration_time": 1},
        "WorkerVerified": {"worker": 0xDEF, "verified": True, "verifier": 0x1},
        "ReputationUpdated": {
            "worker": 0xDEF,
            "job_id": 7,
            "old_reputation": 600,
            "new_reputation": 620,
            "quality_score": 95,
        },
        "ReputationSlashed": {
            "worker": 0xDEF,
            "old_reputation": 620,
            "new_reputation": 600,
            "slash_amount": 20,
            "reason": int.from_bytes(b"misconduct", "big"),
        },
        "OwnershipTransferred": {"previous_owner": 0, "new_owner": 0x1},
        "OwnershipTransferStarted": {"previous_owner": 0x1, "new_owner": 0x2},
        "Paused": {"account": 0x1},
        "Unpaused": {"account": 0x1},
    }
    assert set(samples) == set(codec.names)
    for name, fields in samples.items():
        keys, data = codec.encode(name, **fields)
        assert keys[0] == get_selector_from_name(name)  # app events nested, OZ events flat
        decoded = codec.decode(keys, data)
        assert decoded.name == name and decoded.fields == fields


def test_key_and_data_split_follows_the_abi() -> None:
    keys, data = event_codec("job_registry").encode(
        "JobCreated", job_id=3, creator=0x55, reward_amount=2**130 + 1, deadline=42
    )
    assert keys[1:] == [3, 0x55]
    assert data == [1, 4, 42]  # u256 as (low, high), then the u64


def test_decode_refuses_what_does_not_fit() -> None:
    codec = event_codec("job_registry")
    keys, data = codec.encode("WorkerVerified", worker=1, verified=False, verifier=2)
    with pytest.raises(EventDecodeError, match="unknown event selector"):
        codec.decode([123, *keys[1:]], data)
    with pytest.raises(EventDecodeError, match="expected 2 felts"):
        codec.decode(keys, data[:1])
    with pytest.raises(EventDecodeError, match="not a bool"):
        codec.decode(keys, [2, 2])
    with pytest.raises(EventDecodeError, match="no keys"):
        codec.decode([], data)
    created_keys, _ = codec.encode("JobCreated", job_id=1, creator=1, reward_amount=1, deadline=1)
    with pytest.raises(EventDecodeError, match="u256 limb"):
        codec.decode(created_keys, [2**128, 0, 1])
    with pytest.raises(EventDecodeError, match="does not fit u64"):
        codec.decode(created_keys, [1, 0, 2**64])
    with pytest.raises(KeyError, match="unknown event"):
        codec.encode("JobAssigned", job_id=1)


def test_erc20_events_decode() -> None:
    codec = event_codec("erc20")
    keys, data = codec.encode("Transfer", **{"from": 1, "to": 2, "value": 3})
    assert codec.decode(keys, data).fields == {"from": 1, "to": 2, "value": 3}


@pytest.mark.parametrize("cid", [CIDV0, CIDV1, "short"])
def test_cids_round_trip(cid: str) -> None:
    part1, part2 = cid_to_felts(cid)
    assert felts_to_cid(part1, part2) == cid
    assert part2 == 0 if len(cid) <= 31 else part2 != 0


def test_bad_cids_are_refused() -> None:
    with pytest.raises(CidEncodingError):
        cid_to_felts("")
    with pytest.raises(CidEncodingError):
        cid_to_felts("x" * 63)
    with pytest.raises(CidEncodingError):
        cid_to_felts("bad cid with spaces")
    with pytest.raises(CidEncodingError):
        felts_to_cid(int.from_bytes(b"Qm\x01", "big"), 0)  # control character
    with pytest.raises(CidEncodingError):
        felts_to_cid(int.from_bytes("é".encode(), "big"), 0)  # not ASCII
    with pytest.raises(CidEncodingError):
        felts_to_cid(0, 0)
    with pytest.raises(CidEncodingError):
        felts_to_cid(int.from_bytes(b"short", "big"), int.from_bytes(b"tail", "big"))
    with pytest.raises(CidEncodingError):
        felts_to_cid(2**250, 0)


def test_addresses_have_one_form() -> None:
    assert normalize_address("0x00ABC") == normalize_address(0xABC) == "0x" + "0" * 61 + "abc"
    assert parse_felt("123") == 123
    for bad in ("0xZZ", "-1", 2**252, True, "hello"):
        with pytest.raises(ValueError):
            parse_felt(bad)


@pytest.mark.parametrize("contract", ["job_registry", "erc20", "account"])
def test_the_shared_type_grammar_parses_every_abi_as_starknet_py_does(contract: str) -> None:
    from starknet_py.abi.v2 import AbiParser, parser_transformer
    from starknet_py.cairo.v2 import type_parser

    from veriframe_core.chain.abi import load_abi, parse_type

    assert type_parser.parse is parse_type  # installed for every parse in the process
    fast = AbiParser(load_abi(contract)).parse()
    type_parser.parse = parser_transformer.parse  # starknet-py's own: a grammar per type
    try:
        reference = AbiParser(load_abi(contract)).parse()
    finally:
        type_parser.parse = parse_type
    assert fast == reference
    assert fast.functions or fast.interfaces
