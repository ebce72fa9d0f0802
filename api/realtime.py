"""Live updates for websocket clients, fed by the warehouse's change notifications.

Every writer (ingestion, the API's own writes) announces the jobs and workers it changed with
`pg_notify` in its transaction (`veriframe_core.warehouse.notify`). Each API process holds
ONE dedicated `LISTEN` connection, so a change committed anywhere reaches the clients of every
process. On a notification the process loads, in one round trip, only the rows someone here
is subscribed to and fans the documents out to per-client bounded queues: a client too slow
to drain its queue is dropped (close code 1013) instead of holding the others back.

Topics: `job:<id>`, `worker:<address>`, `jobs:available` (jobs that became or stopped
being open) and `verifications:available` (a verification became claimable: a wake-up for
verifiers, with no document). Documents are the JSON of `GET /api/v1/jobs/{id}` (as
Postgres builds it for that endpoint, so one parser reads both: the verdict on a delivery
is in its `verification`) and of `GET /api/v1/workers/{a}`. After the LISTEN connection is
(re)established, subscribed jobs and workers are sent again and the `…:available`
subscribers get a `resync` message, since notifications may have been missed while it was
down.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Protocol

import sqlalchemy as sa
from pydantic import BaseModel

from api.documents import JOB_DETAILS
from api.rows import plain
from api.schemas import Worker
from veriframe_core.chain.addresses import normalize_address
from veriframe_core.warehouse.engine import dedicated_session
from veriframe_core.warehouse.notify import CHANNEL
from veriframe_core.warehouse.tables import jobs, workers

log = logging.getLogger("veriframe.api.realtime")

AVAILABLE = "jobs:available"
VERIFYING = "verifications:available"
WAKE_UPS = (AVAILABLE, VERIFYING)
MAX_JOB_ID = 2**251
MAX_TOPIC_LENGTH = 200
RECONNECT_MIN_S = 0.2
RECONNECT_MAX_S = 10.0


def parse_topic(text: Any) -> str:
    """The canonical name of a topic (`job:<decimal id>`, `worker:0x<64 hex>`,
    `jobs:available`, `verifications:available`); ValueError with a message for people when
    it is not one."""
    if not isinstance(text, str) or not text:
        raise ValueError("topic must be a non-empty string")
    if len(text) > MAX_TOPIC_LENGTH:
        raise ValueError(f"topic longer than {MAX_TOPIC_LENGTH} characters")
    if text in WAKE_UPS:
        return text
    kind, _, key = text.partition(":")
    if kind == "job":
        if not key.isascii() or not key.isdigit() or not 1 <= int(key) < MAX_JOB_ID:
            raise ValueError(f"job id must be a decimal integer in [1, 2^251): {key!r}")
        return f"job:{int(key)}"
    if kind == "worker":
        return f"worker:{normalize_address(key)}"  # its ValueError says what is wrong
    raise ValueError(
        f"unknown topic {text!r}: job:<id>, worker:<address>, {AVAILABLE} or {VERIFYING}"
    )


def frame(kind: str, topic: str | None, data: Any = None, *, document: str | None = None) -> str:
    """One server message as JSON text; `document`, JSON text already (a job as Postgres
    built it), goes in as `data` as it is."""
    if document is None:
        return json.dumps({"type": kind, "topic": topic, "data": data}, separators=(",", ":"))
    head = json.dumps({"type": kind, "topic": topic}, separators=(",", ":"))
    return f'{head[:-1]},"data":{document}}}'


def _columns(schema: type[BaseModel], table: sa.Table) -> list[sa.Column]:
    """The table columns of a response schema, read when used (the schema may grow)."""
    return [table.c[name] for name in schema.model_fields if name in table.c]


def _document(schema: type[BaseModel], row: sa.Row) -> dict[str, Any]:
    """A row as the REST API serialises it (through the same response model)."""
    return schema.model_validate(plain(row)).model_dump(mode="json")


@dataclass(frozen=True)
class JobDocument:
    """A job's status, and its document as `GET /api/v1/jobs/{id}` serves it (JSON text)."""

    status: str
    text: str


def load_jobs(
    conn: sa.Connection, ids: list[int], open_or: list[int] | None = None
) -> dict[int, JobDocument]:
    """Job documents by id; with `open_or`, only the open ones and those in `open_or` (a
    backfill announces thousands of settled jobs nobody needs documents of)."""
    if not ids:
        return {}
    rows = JOB_DETAILS(conn, {"job_ids": ids, "open_or": open_or})
    return {int(job_id): JobDocument(status, text) for job_id, status, text in rows}


def load_workers(conn: sa.Connection, addresses: list[str]) -> dict[str, dict[str, Any]]:
    if not addresses:
        return {}
    query = sa.select(*_columns(Worker, workers)).where(workers.c.address.in_(addresses))
    return {row.address: _document(Worker, row) for row in conn.execute(query)}


def _open_ids(conn: sa.Connection) -> set[int]:
    query = sa.select(jobs.c.job_id).where(jobs.c.status == "open")
    return {int(j) for j in conn.execute(query).scalars()}


@dataclass
class Changes:
    """What notifications named: jobs, (normalised) worker addresses, and the jobs whose
    verification became claimable."""

    jobs: set[int] = field(default_factory=set)
    workers: set[str] = field(default_factory=set)
    offered: set[int] = field(default_factory=set)


def _ids(values: Any) -> set[int]:
    return {int(j) for j in values or [] if not isinstance(j, bool)}


def parse_payload(payload: str, into: Changes) -> None:
    """Add what a notification names to `into`; what does not parse is skipped (logged), a
    notification never stops the feed."""
    try:
        body = json.loads(payload)
        found = Changes(
            _ids(body.get("jobs")),
            {normalize_address(w) for w in body.get("workers") or []},
            _ids(body.get("offered")),
        )
    except (ValueError, TypeError, AttributeError) as err:
        log.warning("Change feed: ignored a malformed notification %.200r: %s", payload, err)
        return
    into.jobs |= found.jobs
    into.workers |= found.workers
    into.offered |= found.offered


@dataclass(eq=False)
class Subscriber:
    """One websocket client: its outgoing queue and topics. `dropped` is set (and the
    connection should be closed with 1013) once its queue overflowed."""

    queue: asyncio.Queue[str]
    name: str
    topics: set[str] = field(default_factory=set)
    dropped: bool = False


class Hub:
    """Topics to subscribers, within one process (used from the event loop only)."""

    def __init__(self) -> None:
        self._topics: dict[str, set[Subscriber]] = defaultdict(set)

    def subscribe(self, sub: Subscriber, topic: str) -> None:
        if sub.dropped:
            return
        sub.topics.add(topic)
        self._topics[topic].add(sub)

    def unsubscribe(self, sub: Subscriber, topic: str) -> None:
        sub.topics.discard(topic)
        subs = self._topics.get(topic)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._topics[topic]

    def remove(self, sub: Subscriber) -> None:
        for topic in list(sub.topics):
            self.unsubscribe(sub, topic)

    def has(self, topic: str) -> bool:
        return topic in self._topics

    def topics(self) -> list[str]:
        return list(self._topics)

    def send(self, sub: Subscriber, text: str) -> None:
        """Queue a message for one client; a full queue drops the client, never waits."""
        if sub.dropped:
            return
        try:
            sub.queue.put_nowait(text)
        except asyncio.QueueFull:
            sub.dropped = True
            self.remove(sub)
            log.warning(
                "Websocket client %s is too slow: its queue of %d messages is full; "
                "disconnecting it (1013)",
                sub.name,
                sub.queue.maxsize,
            )

    def publish(self, topic: str, text: str) -> None:
        for sub in tuple(self._topics.get(topic, ())):
            self.send(sub, text)


class ChangeListener(Protocol):
    """Told, on the event loop, of every notification as it arrives (before delivery)."""

    def heard(self, payloads: list[str]) -> None: ...

    def connected(self, listening: bool) -> None: ...


class ChangeFeed:
    """This process's LISTEN connection and the fan-out of what it hears."""

    def __init__(self, engine: sa.Engine, *, queue_size: int = 256):
        self.engine = engine
        self.queue_size = queue_size
        self.hub = Hub()
        self.backend_pid: int | None = None  # of the LISTEN session, while it is up
        self.listeners: list[ChangeListener] = []  # told of every notification (caches)
        self._pending: list[str] = []
        self._resync = False
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()  # loading and fanning out, or seeding `_open`
        self._open: set[int] | None = None  # open job ids, while jobs:available has clients
        self._tasks: list[asyncio.Task] = []

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> ChangeFeed:
        self._tasks = [
            asyncio.create_task(self._listen_forever(), name="change-feed-listen"),
            asyncio.create_task(self._deliver_forever(), name="change-feed-deliver"),
        ]
        return self

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    def connect(self, name: str) -> Subscriber:
        return Subscriber(asyncio.Queue(self.queue_size), name)

    # ---------------------------------------------------------------- subscriptions
    async def subscribe(self, sub: Subscriber, topic: str) -> None:
        """Subscribe `sub` and queue the `subscribed` message with the topic's current
        document. Under the delivery lock: the ack comes first, and every change committed
        after its snapshot follows it."""
        async with self._lock:
            if topic in WAKE_UPS:
                ack = frame("subscribed", topic)
                if topic == AVAILABLE and self._open is None:
                    self._open = await asyncio.to_thread(self._open_ids)
            else:
                ack = await asyncio.to_thread(self._snapshot, topic)
            self.hub.subscribe(sub, topic)
            self.hub.send(sub, ack)

    def _snapshot(self, topic: str) -> str:
        """The `subscribed` message of a job or worker topic, with its current document."""
        kind, _, key = topic.partition(":")
        with self.engine.connect() as conn:
            if kind == "job":
                found = load_jobs(conn, [int(key)]).get(int(key))
                return frame("subscribed", topic, document=found and found.text)
            return frame("subscribed", topic, load_workers(conn, [key]).get(key))

    def _open_ids(self) -> set[int]:
        with self.engine.connect() as conn:
            return _open_ids(conn)

    # ---------------------------------------------------------------- LISTEN
    def _connect(self):
        """A new psycopg2 connection (not from the pool: it is held for good), LISTENing."""
        conn = dedicated_session(self.engine, f"veriframe-api-listen-{os.getpid()}")
        with conn.cursor() as cur:
            cur.execute(f"LISTEN {CHANNEL}")
        return conn

    async def _listen_forever(self) -> None:
        delay = RECONNECT_MIN_S
        while True:
            try:
                conn = await asyncio.to_thread(self._connect)
            except Exception as err:
                log.warning(
                    "Change feed: cannot LISTEN (%s); retrying in %.1f s", str(err).strip(), delay
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, RECONNECT_MAX_S)
                continue
            delay = RECONNECT_MIN_S
            try:
                await self._hear(conn)
            except Exception as err:
                log.warning(
                    "Change feed: LISTEN session %s was lost (%s); reconnecting",
                    self.backend_pid,
                    str(err).strip(),
                )
            finally:
                self.backend_pid = None
                for listener in self.listeners:
                    listener.connected(False)
                with contextlib.suppress(Exception):
                    conn.close()
            await asyncio.sleep(RECONNECT_MIN_S)  # a session that keeps dying: no busy loop

    async def _hear(self, conn) -> None:
        """Move notifications from `conn` to the delivery task until the connection fails."""
        loop = asyncio.get_running_loop()
        lost: asyncio.Future[None] = loop.create_future()
        fd = conn.fileno()

        def readable() -> None:
            try:
                conn.poll()
            except Exception as err:
                loop.remove_reader(fd)
                if not lost.done():
                    lost.set_exception(err)
                return
            if conn.notifies:
                payloads = [n.payload for n in conn.notifies]
                conn.notifies.clear()
                for listener in self.listeners:
                    listener.heard(payloads)
                self._pending.extend(payloads)
                self._wake.set()

        loop.add_reader(fd, readable)
        try:
            self.backend_pid = conn.info.backend_pid
            log.info("Change feed: LISTEN %s on session %d", CHANNEL, self.backend_pid)
            for listener in self.listeners:
                listener.connected(True)
            self._resync = True  # whatever changed before this session was not heard
            self._wake.set()
            readable()  # notifications read along with the LISTEN reply
            await lost
        finally:
            loop.remove_reader(fd)

    # ---------------------------------------------------------------- delivery
    async def _deliver_forever(self) -> None:
        delay = RECONNECT_MIN_S
        while True:
            await self._wake.wait()
            self._wake.clear()
            payloads, self._pending = self._pending, []
            resync, self._resync = self._resync, False
            try:
                async with self._lock:
                    await self._deliver(payloads, resync)
                delay = RECONNECT_MIN_S
            except Exception as err:
                log.warning(
                    "Change feed: could not load %d notifications' rows (%s); "
                    "resending subscribed rows in %.1f s",
                    len(payloads),
                    str(err).strip(),
                    delay,
                )
                self._resync = True
                await asyncio.sleep(delay)
                delay = min(delay * 2, RECONNECT_MAX_S)
                self._wake.set()

    async def _deliver(self, payloads: list[str], resync: bool) -> None:
        """Load the notified rows someone subscribed to (one round trip) and fan them out."""
        changes = Changes()
        for payload in payloads:
            parse_payload(payload, changes)
        job_ids, addresses = changes.jobs, changes.workers
        hub = self.hub
        if resync:
            hub.publish(VERIFYING, frame("resync", VERIFYING))
        for job_id in sorted(changes.offered):
            hub.publish(VERIFYING, frame("available", VERIFYING, {"job_id": job_id}))
        available = hub.has(AVAILABLE)
        if not available:
            self._open = None
        if resync:
            for topic in hub.topics():
                kind, _, key = topic.partition(":")
                if kind == "job":
                    job_ids.add(int(key))
                elif kind == "worker":
                    addresses.add(key)
        if not available:
            job_ids = {j for j in job_ids if hub.has(f"job:{j}")}
        addresses = {a for a in addresses if hub.has(f"worker:{a}")}
        reseed = available and resync
        if not (job_ids or addresses or reseed):
            return
        known = self._open if self._open is not None and not reseed else None
        open_or = None  # documents of every notified job, unless only their openness matters
        if known is not None:
            open_or = sorted(j for j in job_ids if j in known or hub.has(f"job:{j}"))
        job_docs, worker_docs, seed = await asyncio.to_thread(
            self._load, sorted(job_ids), open_or, sorted(addresses), reseed
        )
        if seed is not None:
            self._open = seed
            hub.publish(AVAILABLE, frame("resync", AVAILABLE))
        for job_id in sorted(job_ids):
            doc = job_docs.get(job_id)
            topic = f"job:{job_id}"
            if hub.has(topic):
                hub.publish(topic, frame("job", topic, document=doc and doc.text))
            if self._open is not None:
                self._publish_availability(job_id, doc)
        for address in sorted(addresses):
            topic = f"worker:{address}"
            hub.publish(topic, frame("worker", topic, worker_docs.get(address)))

    def _publish_availability(self, job_id: int, doc: JobDocument | None) -> None:
        """`available` for a job that is open (new, reopened or changed while open);
        `unavailable` once, for a job that was open and is no longer (or is gone)."""
        assert self._open is not None
        if doc is not None and doc.status == "open":
            self._open.add(job_id)
            self.hub.publish(AVAILABLE, frame("available", AVAILABLE, document=doc.text))
        elif job_id in self._open:
            self._open.discard(job_id)
            status = doc.status if doc is not None else None
            self.hub.publish(
                AVAILABLE, frame("unavailable", AVAILABLE, {"job_id": job_id, "status": status})
            )

    def _load(
        self, job_ids: list[int], open_or: list[int] | None, addresses: list[str], seed: bool
    ) -> tuple[dict[int, JobDocument], dict[str, dict], set[int] | None]:
        with self.engine.connect() as conn:
            open_ids = _open_ids(conn) if seed else None
            return load_jobs(conn, job_ids, open_or), load_workers(conn, addresses), open_ids
