"""JSON-RPC errors with the codes of the StarkNet spec 0.10.2."""

from __future__ import annotations

from typing import Any


class RpcError(Exception):
    """An error answer: `{"code", "message", "data"?}`."""

    def __init__(self, code: int, message: str, data: Any = None):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.data = data

    def to_json(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error

    @classmethod
    def block_not_found(cls) -> RpcError:
        return cls(24, "Block not found")

    @classmethod
    def invalid_params(cls, detail: str) -> RpcError:
        return cls(-32602, "Invalid params", detail)
