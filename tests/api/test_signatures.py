"""SNIP-12 login messages signed by starknet-py accounts, verified by the account contracts."""

from __future__ import annotations

import asyncio
import dataclasses

import aiohttp
import pytest
from starknet_py.cairo.felt import encode_shortstring

from api.auth import signatures
from api.auth.signatures import LoginMessage
from tests.support.chain import Driver
from veriframe_core.chain.rpc import ChainUnavailable, StarknetRpc


def signature_is_valid(url: str, message: LoginMessage, signature: list[int]) -> bool:
    async def check() -> bool:
        async with aiohttp.ClientSession() as session:
            rpc = StarknetRpc(url, session, timeout_s=2)
            return await signatures.signature_is_valid(rpc, message, signature)

    return asyncio.run(check())


def message_for(chain: Driver, index: int = 4, **changes) -> LoginMessage:
    base = LoginMessage(
        address=chain.accounts[index].address,
        nonce=0x5EED,
        issued_at=1_800_000_000,
        expires_at=1_800_000_300,
        chain_id=chain.chain_id,
    )
    return dataclasses.replace(base, **changes)


def test_the_account_contract_accepts_its_owners_signature(chain: Driver) -> None:
    message = message_for(chain)
    signature = chain.accounts[4].sign_message(message.typed_data())  # starknet-py's own hash
    assert signature_is_valid(chain.url, message, signature)


def test_anything_else_is_not_a_valid_signature(chain: Driver) -> None:
    message = message_for(chain)
    signature = chain.accounts[4].sign_message(message.typed_data())
    other = chain.accounts[5].sign_message(message_for(chain, 5).typed_data())
    tampered = [
        dataclasses.replace(message, nonce=message.nonce + 1),
        dataclasses.replace(message, expires_at=message.expires_at + 3600),
        dataclasses.replace(message, chain_id=encode_shortstring("SN_MAIN")),
    ]
    for changed in tampered:
        assert not signature_is_valid(chain.url, changed, signature)
    assert not signature_is_valid(chain.url, message_for(chain, 5), signature)  # wrong address
    assert not signature_is_valid(chain.url, message, other)  # another account's key
    assert not signature_is_valid(chain.url, message, [signature[0], signature[1] ^ 1])
    assert not signature_is_valid(chain.url, message, [])
    nobody = dataclasses.replace(message, address=0xDEAD)  # no contract at that address
    assert not signature_is_valid(chain.url, nobody, signature)


def test_an_unreachable_node_is_not_a_wrong_signature(chain: Driver) -> None:
    with pytest.raises(ChainUnavailable):
        signature_is_valid("http://127.0.0.1:9/rpc", message_for(chain), [1, 2])
