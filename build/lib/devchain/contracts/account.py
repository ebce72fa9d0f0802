"""A predeployed single-key account (OpenZeppelin style): SRC-6 validation and multicall."""

from __future__ import annotations

from starknet_py.cairo.felt import encode_shortstring
from starknet_py.hash.utils import verify_message_signature

from devchain.contracts.base import Frame, SimulatedContract, require

VALID = encode_shortstring("VALID")
SRC6_INTERFACE_ID = 0x2CECCEF7F994940B3962A6C67E0BA4FCD37DF7D131417C604F91E03CAECC1CD


class Account(SimulatedContract):
    abi_name = "account"

    def public_key(self, frame: Frame) -> int:
        return frame.read("public_key")

    def _signature_ok(self, frame: Frame, hash_: int, signature: list[int]) -> bool:
        if len(signature) != 2:
            return False
        try:
            return verify_message_signature(hash_, signature, self.public_key(frame))
        except Exception:  # malformed r/s values are an invalid signature, not a crash
            return False

    def __validate__(self, frame: Frame, calls: list) -> int:
        execution = frame.execution
        require(
            self._signature_ok(frame, execution.tx_hash, execution.tx_signature),
            "Account: invalid signature",
        )
        return VALID

    def __execute__(self, frame: Frame, calls: list) -> None:
        require(frame.caller == 0, "Account: invalid caller")
        for call in calls:
            frame.execution.call(self.address, call["to"], call["selector"], call["calldata"])

    def is_valid_signature(self, frame: Frame, hash: int, signature: list[int]) -> int:
        return VALID if self._signature_ok(frame, hash, signature) else 0

    def supports_interface(self, frame: Frame, interface_id: int) -> bool:
        return interface_id == SRC6_INTERFACE_ID

    def get_public_key(self, frame: Frame) -> int:
        return self.public_key(frame)
