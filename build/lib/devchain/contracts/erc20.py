"""The reward token: an OpenZeppelin-style ERC-20 (Sepolia scripts use STRK)."""

from __future__ import annotations

from devchain.contracts.base import U256_MAX, Frame, SimulatedContract, require


class Erc20(SimulatedContract):
    abi_name = "erc20"

    NAME = "VeriFrame Reward"
    SYMBOL = "VFR"
    DECIMALS = 18

    def mint(self, frame: Frame, recipient: int, amount: int) -> None:
        """Genesis funding (not an external entry point)."""
        frame.write("total_supply", value=frame.read("total_supply") + amount)
        frame.write("balances", recipient, value=frame.read("balances", recipient) + amount)
        frame.emit("Transfer", **{"from": 0, "to": recipient, "value": amount})

    def total_supply(self, frame: Frame) -> int:
        return frame.read("total_supply")

    def balance_of(self, frame: Frame, account: int) -> int:
        return frame.read("balances", account)

    def allowance(self, frame: Frame, owner: int, spender: int) -> int:
        return frame.read("allowances", owner, spender)

    def name(self, frame: Frame) -> str:
        return self.NAME

    def symbol(self, frame: Frame) -> str:
        return self.SYMBOL

    def decimals(self, frame: Frame) -> int:
        return self.DECIMALS

    def approve(self, frame: Frame, spender: int, amount: int) -> bool:
        require(frame.caller != 0, "ERC20: approve from 0")
        require(spender != 0, "ERC20: approve to 0")
        frame.write("allowances", frame.caller, spender, value=amount)
        frame.emit("Approval", owner=frame.caller, spender=spender, value=amount)
        return True

    def transfer(self, frame: Frame, recipient: int, amount: int) -> bool:
        self._transfer(frame, frame.caller, recipient, amount)
        return True

    def transfer_from(self, frame: Frame, sender: int, recipient: int, amount: int) -> bool:
        allowed = frame.read("allowances", sender, frame.caller)
        if allowed != U256_MAX:
            require(allowed >= amount, "ERC20: insufficient allowance")
            frame.write("allowances", sender, frame.caller, value=allowed - amount)
        self._transfer(frame, sender, recipient, amount)
        return True

    @staticmethod
    def _transfer(frame: Frame, sender: int, recipient: int, amount: int) -> None:
        require(sender != 0, "ERC20: transfer from 0")
        require(recipient != 0, "ERC20: transfer to 0")
        balance = frame.read("balances", sender)
        require(balance >= amount, "ERC20: insufficient balance")
        frame.write("balances", sender, value=balance - amount)
        frame.write("balances", recipient, value=frame.read("balances", recipient) + amount)
        frame.emit("Transfer", **{"from": sender, "to": recipient, "value": amount})
