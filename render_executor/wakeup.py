"""Waiting for work: the API's websocket says when a job opens; polling covers the rest.

The agent subscribes to `jobs:available` on `/api/v1/ws` in a background thread and is woken
at once when a job opens (or the feed resyncs). A connection that fails is retried with
backoff and jitter; while it is down the agent simply polls, so a proxy that drops
websockets costs latency, never work.
"""

from __future__ import annotations

import json
import logging
import random
import threading

from websockets.exceptions import WebSocketException
from websockets.sync.client import connect

log = logging.getLogger("veriframe.worker")
TOPIC = "jobs:available"
WAKING = {"available", "resync"}
RECONNECT_MIN_S = 0.5
RECONNECT_MAX_S = 30.0


def websocket_url(api_url: str) -> str:
    base = api_url.rstrip("/")
    scheme, _, rest = base.partition("://")
    return f"{'wss' if scheme == 'https' else 'ws'}://{rest}/api/v1/ws"


class JobsAvailable:
    """A `jobs:available` subscription kept open in the background; `wait` returns early
    when a job may have opened."""

    def __init__(self, api_url: str):
        self.url = websocket_url(api_url)
        self.connected = threading.Event()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._listen, daemon=True, name="jobs-available")

    def start(self) -> JobsAvailable:
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(10)

    def wake(self) -> None:
        self._wake.set()

    def wait(self, timeout_s: float) -> bool:
        """Sleep up to `timeout_s`; True if woken by the feed (or `wake`)."""
        woken = self._wake.wait(timeout_s)
        self._wake.clear()
        return woken

    def _listen(self) -> None:
        delay = RECONNECT_MIN_S
        while not self._stop.is_set():
            try:
                with connect(self.url, open_timeout=10, close_timeout=2) as ws:
                    ws.send(json.dumps({"action": "subscribe", "topic": TOPIC}))
                    self.connected.set()
                    delay = RECONNECT_MIN_S
                    log.info("Worker: waiting for jobs on %s", self.url)
                    while not self._stop.is_set():
                        try:
                            text = ws.recv(timeout=1)
                        except TimeoutError:
                            continue
                        if _wakes(text):
                            self._wake.set()
            except (OSError, WebSocketException) as err:
                if self.connected.is_set() or delay == RECONNECT_MIN_S:
                    log.warning("Worker: websocket %s unavailable (%s); polling", self.url, err)
            self.connected.clear()
            self._stop.wait(delay * random.uniform(0.5, 1.5))
            delay = min(delay * 2, RECONNECT_MAX_S)


def _wakes(text: str | bytes) -> bool:
    try:
        message = json.loads(text)
    except ValueError:
        return False
    return isinstance(message, dict) and message.get("type") in WAKING
