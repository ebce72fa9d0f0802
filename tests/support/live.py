"""A websocket client of `/api/v1/ws` for tests: sends requests, reads server frames."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from websockets.sync.client import ClientConnection, connect

WAIT_S = 15


class Live:
    """A websocket client speaking the `/api/v1/ws` protocol."""

    def __init__(self, ws: ClientConnection):
        self.ws = ws

    def send(self, message: Any) -> None:
        self.ws.send(message if isinstance(message, str | bytes) else json.dumps(message))

    def next(self, timeout: float = WAIT_S) -> dict[str, Any]:
        return json.loads(self.ws.recv(timeout=timeout))

    def wait_for(self, match: Callable[[dict], bool], timeout: float = WAIT_S) -> dict[str, Any]:
        """The first message `match` accepts (others are skipped); TimeoutError if none."""
        deadline = time.monotonic() + timeout
        while True:
            message = self.next(max(deadline - time.monotonic(), 0.01))
            if match(message):
                return message

    def subscribe(self, topic: str) -> Any:
        self.send({"action": "subscribe", "topic": topic})
        reply = self.next()
        assert reply["type"] == "subscribed", reply
        return reply["data"]


def live(base_url: str) -> Live:
    return Live(connect(base_url.replace("http", "ws", 1) + "/api/v1/ws", open_timeout=WAIT_S))
