"""`/api/v1/ws`: live updates of jobs, workers and open work over a websocket (JSON text
frames).

Client → server: `{"action": "subscribe" | "unsubscribe", "topic": "..."}` and
`{"action": "ping"}`. Server → client: `{"type", "topic", "data"}` objects, see
`api.realtime`. A bad frame gets an `error` message and the connection stays open: one
faulty client request must not cost the client its other subscriptions. Anonymous: all of
this is public on chain.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from fastapi import APIRouter, WebSocket
from sqlalchemy.exc import SQLAlchemyError
from starlette.websockets import WebSocketDisconnect

from api.deps import Feed
from api.realtime import ChangeFeed, Subscriber, frame, parse_topic

log = logging.getLogger("veriframe.api.ws")

router = APIRouter(tags=["live updates"])
MAX_TOPICS = 100
MAX_FRAME_CHARS = 4096
TRY_AGAIN_LATER = 1013
INTERNAL_ERROR = 1011


def error(code: str, message: str, topic: str | None = None) -> str:
    return json.dumps(
        {"type": "error", "topic": topic, "error": {"code": code, "message": message}}
    )


@router.websocket("/ws")
async def live_updates(websocket: WebSocket, feed: Feed) -> None:
    """Subscribe to `job:<id>`, `worker:<address>`, `jobs:available` or
    `verifications:available`."""
    await websocket.accept()
    if feed is None:
        await websocket.close(INTERNAL_ERROR, "live updates are not running")
        return
    client = websocket.client
    sub = feed.connect(f"{client.host}:{client.port}" if client else "?")
    sender = asyncio.create_task(_send(websocket, sub))
    receiver = asyncio.create_task(_receive(websocket, feed, sub))
    try:
        await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        feed.hub.remove(sub)
        for task in (sender, receiver):
            task.cancel()
        await asyncio.gather(sender, receiver, return_exceptions=True)


async def _send(websocket: WebSocket, sub: Subscriber) -> None:
    """Drain the client's queue; close with 1013 once the hub dropped it as too slow."""
    while True:
        text = await sub.queue.get()
        if sub.dropped:
            with contextlib.suppress(Exception):
                await websocket.close(TRY_AGAIN_LATER, "too slow: message queue full")
            return
        try:
            await websocket.send_text(text)
        except (WebSocketDisconnect, RuntimeError, OSError):
            return


async def _receive(websocket: WebSocket, feed: ChangeFeed, sub: Subscriber) -> None:
    while True:
        try:
            message = await websocket.receive()
        except (WebSocketDisconnect, RuntimeError):
            return
        if message["type"] == "websocket.disconnect":
            return
        text = message.get("text")
        if text is None:
            feed.hub.send(sub, error("invalid_request", "frames must be JSON text"))
        elif len(text) > MAX_FRAME_CHARS:
            feed.hub.send(sub, error("invalid_request", f"frame over {MAX_FRAME_CHARS} chars"))
        else:
            await _handle(text, feed, sub)


async def _handle(text: str, feed: ChangeFeed, sub: Subscriber) -> None:
    """One client request; every answer goes through the client's queue, in order."""
    hub = feed.hub
    try:
        request: Any = json.loads(text)
    except (ValueError, RecursionError):
        hub.send(sub, error("invalid_request", "frame is not valid JSON"))
        return
    if not isinstance(request, dict):
        hub.send(sub, error("invalid_request", "frame must be a JSON object"))
        return
    action, raw_topic = request.get("action"), request.get("topic")
    echo = raw_topic if isinstance(raw_topic, str) and len(raw_topic) <= 200 else None
    if action == "ping":
        hub.send(sub, frame("pong", None))
        return
    if action not in ("subscribe", "unsubscribe"):
        message = "action must be subscribe, unsubscribe or ping"
        hub.send(sub, error("invalid_request", message, echo))
        return
    try:
        topic = parse_topic(raw_topic)
    except ValueError as err:
        hub.send(sub, error("invalid_request", str(err), echo))
        return
    if action == "unsubscribe":
        hub.unsubscribe(sub, topic)
        hub.send(sub, frame("unsubscribed", topic))
        return
    if topic not in sub.topics and len(sub.topics) >= MAX_TOPICS:
        message = f"at most {MAX_TOPICS} topics per connection"
        hub.send(sub, error("too_many_topics", message, topic))
        return
    try:
        await feed.subscribe(sub, topic)
    except SQLAlchemyError as err:
        log.warning("Websocket client %s: subscribing to %s failed: %s", sub.name, topic, err)
        hub.unsubscribe(sub, topic)
        hub.send(sub, error("unavailable", "the warehouse is not reachable; retry", topic))
    except Exception:
        log.exception("Websocket client %s: subscribing to %s failed", sub.name, topic)
        hub.unsubscribe(sub, topic)
        hub.send(sub, error("internal_error", "could not subscribe; this is a bug", topic))
