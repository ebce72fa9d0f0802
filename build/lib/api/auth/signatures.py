"""SNIP-12 (revision 1) login messages and their verification through SRC-6.

The API never sees a key: the account contract at the caller's address decides whether a
signature is valid (`is_valid_signature(hash, signature)` answers 'VALID'), so any account
type works (OpenZeppelin, Argent, Braavos, multisig).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starknet_py.cairo.felt import decode_shortstring, encode_shortstring
from starknet_py.hash.selector import get_selector_from_name
from starknet_py.utils.typed_data import TypedData

from veriframe_core.chain.rpc import ChainRpcError, ChainUnavailable, StarknetRpc

VALID = encode_shortstring("VALID")
IS_VALID_SIGNATURE = get_selector_from_name("is_valid_signature")
NOT_A_VALID_SIGNATURE = (20, 21, 40)  # no contract, no such entry point, the check reverted
DOMAIN_NAME = "VeriFrame"
DOMAIN_VERSION = "1"


@dataclass(frozen=True)
class LoginMessage:
    """What a caller signs to log in: who, a single-use nonce, and a validity window."""

    address: int
    nonce: int
    issued_at: int  # unix seconds
    expires_at: int
    chain_id: int  # the chain id felt, e.g. encode_shortstring("SN_MAIN")

    def typed_data(self) -> dict[str, Any]:
        """The SNIP-12 revision 1 typed data a wallet shows and signs."""
        return {
            "types": {
                "StarknetDomain": [
                    {"name": "name", "type": "shortstring"},
                    {"name": "version", "type": "shortstring"},
                    {"name": "chainId", "type": "shortstring"},
                    {"name": "revision", "type": "shortstring"},
                ],
                "Login": [
                    {"name": "address", "type": "ContractAddress"},
                    {"name": "nonce", "type": "felt"},
                    {"name": "issuedAt", "type": "timestamp"},
                    {"name": "expiresAt", "type": "timestamp"},
                ],
            },
            "primaryType": "Login",
            "domain": {
                "name": DOMAIN_NAME,
                "version": DOMAIN_VERSION,
                "chainId": decode_shortstring(self.chain_id),
                "revision": "1",
            },
            "message": {
                "address": hex(self.address),
                "nonce": hex(self.nonce),
                "issuedAt": self.issued_at,
                "expiresAt": self.expires_at,
            },
        }

    def hash(self) -> int:
        """The SNIP-12 message hash the account signs (bound to the signer's address)."""
        return TypedData.from_dict(self.typed_data()).message_hash(self.address)


async def signature_is_valid(rpc: StarknetRpc, message: LoginMessage, signature: list[int]) -> bool:
    """Ask the account contract at `message.address` (at `latest`) whether `signature` signs
    the message. False for a wrong signature, a reverted check or no contract there;
    ChainUnavailable (never False) when the node cannot answer."""
    request = {
        "contract_address": hex(message.address),
        "entry_point_selector": hex(IS_VALID_SIGNATURE),
        "calldata": [hex(x) for x in (message.hash(), len(signature), *signature)],
    }
    try:
        result = await rpc.request("starknet_call", {"request": request, "block_id": "latest"})
    except ChainRpcError as err:
        if err.code in NOT_A_VALID_SIGNATURE:
            return False
        raise
    try:
        return len(result) == 1 and int(result[0], 16) == VALID
    except (TypeError, ValueError) as err:
        raise ChainUnavailable(f"StarkNet node at {rpc.url} answered {result!r}") from err
