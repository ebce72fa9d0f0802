"""Waiting on the API's websocket, with polling as the fallback.

An agent keeps topics of `/api/v1/ws` subscribed in a background thread and is woken at
once when one of them says something worth a look: a job opened (`jobs:available`), a
verification became claimable (`verifications:available`), or the job it delivered changed
(`job:<id>`, whose document carries the verdict). The `subscribed` reply wakes it too: what
happened before the subscription (or while the connection was down) was not announced. A
connection that fails is retried with backoff and jitter; while it is down the agent simply
polls, so a proxy that drops websockets costs latency, never work.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Collection, Sequence

from websockets.exceptions import WebSocketException
from websockets.sync.client import ClientConnection, connect

log = logging.getLogger("veriframe.worker")
WAKE_UPS = frozenset({"subscribed", "available", "resync"})
RECONNECT_MIN_S = 0.5
RECONNECT_MAX_S = 30.0


def websocket_url(api_url: str) -> str:
    base = api_url.rstrip("/")
    scheme, _, rest = base.partition("://")
    return f"{'wss' if scheme == 'https' else 'ws'}://{rest}/api/v1/ws"


class Wakeup:
    """`topics` kept subscribed in the background; `wait` returns early when a message of a
    `waking` type arrives on one of them. A context manager: started and closed."""

    def __init__(self, api_url: str, topics: Sequence[str], waking: Collection[str], name: str):
        self.url = websocket_url(api_url)
        self.topics = list(topics)
        self.waking = frozenset(waking)
        self.connected = threading.Event()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._socket: ClientConnection | None = None
        self._thread = threading.Thread(target=self._listen, daemon=True, name=name)

    def start(self) -> Wakeup:
        """Start listening (once: a started wakeup keeps listening until closed)."""
        if self._thread.ident is None:
            self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if (socket := self._socket) is not None:
            socket.close()  # ends a `recv` at once
        if self._thread.is_alive():
            self._thread.join(10)

    def __enter__(self) -> Wakeup:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

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
                    self._socket = ws
                    for topic in self.topics:
                        ws.send(json.dumps({"action": "subscribe", "topic": topic}))
                    self.connected.set()
                    delay = RECONNECT_MIN_S
                    log.debug("Websocket %s: waiting on %s", self.url, ", ".join(self.topics))
                    while not self._stop.is_set():
                        try:
                            text = ws.recv(timeout=1)
                        except TimeoutError:
                            continue
                        if _kind(text) in self.waking:
                            self._wake.set()
            except (OSError, WebSocketException) as err:
                if not self._stop.is_set() and (
                    self.connected.is_set() or delay == RECONNECT_MIN_S
                ):
                    log.warning("Worker: websocket %s unavailable (%s); polling", self.url, err)
            self._socket = None
            self.connected.clear()
            self._stop.wait(delay * random.uniform(0.5, 1.5))
            delay = min(delay * 2, RECONNECT_MAX_S)


def _kind(text: str | bytes) -> object:
    try:
        message = json.loads(text)
    except ValueError:
        return None
    return message.get("type") if isinstance(message, dict) else None


def jobs_available(api_url: str) -> Wakeup:
    """Wakes a render agent when a job may have opened."""
    return Wakeup(api_url, ["jobs:available"], WAKE_UPS, "jobs-available")


def verifications_available(api_url: str) -> Wakeup:
    """Wakes a verifier when a verification may have become claimable."""
    return Wakeup(api_url, ["verifications:available"], WAKE_UPS, "verifications-available")


def job_changes(api_url: str, job_id: int) -> Wakeup:
    """Wakes whoever waits on a job (its verdict) when the job's document changed."""
    return Wakeup(api_url, [f"job:{job_id}"], {"subscribed", "job"}, f"job-{job_id}")


def wait_for_work(
    wakeup: Wakeup | None, stopping: threading.Event, seconds: float, backstop_s: float
) -> None:
    """An idle agent's wait: with the websocket connected, until it says so (polling only
    every `backstop_s`, for what sends no message); else polling every `seconds`. Jittered,
    so agents do not claim in step; `stopping` (which should `wake` the wakeup) ends it."""
    seconds *= random.uniform(0.8, 1.2)
    if wakeup is None:
        stopping.wait(seconds)
    elif wakeup.connected.is_set():
        if wakeup.wait(backstop_s * random.uniform(0.8, 1.2)):
            time.sleep(random.uniform(0, 0.2))  # spread a crowd's claims a little
    else:
        wakeup.wait(seconds)
