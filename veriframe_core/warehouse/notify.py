"""The change notification every warehouse writer sends, so live readers need not poll.

A writer calls `notify_changes` inside the transaction that changed jobs or workers rows:
Postgres delivers the `pg_notify` to every `LISTEN veriframe_changes` session when that
transaction commits, and drops it on rollback, so a notification never announces a change
that did not happen. The payload names rows, never their values (readers load the current
row): compact JSON

    {"source": "chain", "jobs": [12, 13], "workers": ["0x04…(64 hex)"], "offered": [12]}

split into several notifications so each stays well under Postgres' 8000-byte limit.
`offered` (left out when empty) names the jobs whose verification became claimable (opened,
given back, or its verifier's lease ran out): verifiers wait for it, and no row says it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import threading
from collections.abc import Iterable

import sqlalchemy as sa

from veriframe_core.warehouse.engine import dedicated_session

log = logging.getLogger("veriframe.notify")
CHANNEL = "veriframe_changes"
MAX_PAYLOAD_BYTES = 7000
"""Postgres refuses payloads of 8000 bytes or more; ids and addresses are ASCII."""

_NOTIFY = sa.text(
    "SELECT pg_notify(:channel, payload) FROM unnest(CAST(:payloads AS text[])) AS payload"
)


def payloads(
    source: str, jobs: Iterable[int] = (), workers: Iterable[str] = (), offered: Iterable[int] = ()
) -> list[str]:
    """The notification payloads announcing these jobs, workers and offered verifications
    (duplicates removed, first-seen order kept), each at most `MAX_PAYLOAD_BYTES` long; none
    when all are empty."""
    lists = {
        "jobs": [str(j) for j in dict.fromkeys(int(j) for j in jobs)],
        "workers": [json.dumps(str(w)) for w in dict.fromkeys(workers)],
        "offered": [str(j) for j in dict.fromkeys(int(j) for j in offered)],
    }
    if not any(lists.values()):
        return []
    head = '{"source":' + json.dumps(source)
    budget = MAX_PAYLOAD_BYTES - len(head) - len(',"jobs":[],"workers":[],"offered":[]}')
    out: list[str] = []
    batch: dict[str, list[str]] = {key: [] for key in lists}
    used = 0
    for key, texts in lists.items():
        for text in texts:
            if used + len(text) + 1 > budget and any(batch.values()):
                out.append(_payload(head, batch))
                batch, used = {k: [] for k in lists}, 0
            batch[key].append(text)
            used += len(text) + 1
    out.append(_payload(head, batch))
    return out


def _payload(head: str, batch: dict[str, list[str]]) -> str:
    """One payload: `jobs` and `workers` always (their readers expect both), `offered` when
    there are any."""
    parts = [head] + [
        f'"{key}":[' + ",".join(texts) + "]"
        for key, texts in batch.items()
        if texts or key != "offered"
    ]
    return ",".join(parts) + "}"


def notify_changes(
    conn: sa.Connection,
    *,
    source: str,
    jobs: Iterable[int] = (),
    workers: Iterable[str] = (),
    offered: Iterable[int] = (),
) -> None:
    """Announce, on commit of `conn`'s transaction, that these job ids and worker addresses
    (normalised, `0x` + 64 hex digits) changed, and these jobs' verifications became
    claimable. One statement, whatever the number of ids."""
    found = payloads(source, jobs, workers, offered)
    if found:
        conn.execute(_NOTIFY, {"channel": CHANNEL, "payloads": found})


class Announcer:
    """Sends notifications after their transaction committed (the API's hot writes, see
    `api.database.transaction`) from a thread of its own, on an autocommit session of its
    own: a request only appends to a queue, and what arrives meanwhile goes in one statement.
    A failed send is logged and dropped (readers resync on their own: caches expire, the
    websocket feed re-sends on reconnect)."""

    def __init__(self, engine: sa.Engine):
        self.engine = engine
        self._queue: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="announcer", daemon=True)
        self._conn = None

    def start(self) -> Announcer:
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        self._queue.put(None)
        self._thread.join(timeout_s)

    def announce(self, found: list[str]) -> None:
        for payload in found:
            self._queue.put(payload)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            batch = [first]
            while not self._queue.empty():
                batch.append(self._queue.get())
            stop = None in batch
            found = [p for p in batch if p is not None]
            if found:
                self._send(found)
            if stop:
                if self._conn is not None:
                    self._conn.close()
                return

    def _send(self, found: list[str]) -> None:
        for attempt in (1, 2):  # a second try on a fresh session
            try:
                if self._conn is None:
                    self._conn = dedicated_session(
                        self.engine, f"veriframe-announcer-{os.getpid()}"
                    )
                with self._conn.cursor() as cur:
                    cur.execute(_NOTIFY_DBAPI, (CHANNEL, found))
                return
            except Exception as err:
                with contextlib.suppress(Exception):
                    self._conn.close()
                self._conn = None
                if attempt == 2:
                    log.warning("Dropped %d change notifications: %s", len(found), err)


_NOTIFY_DBAPI = "SELECT pg_notify(%s, payload) FROM unnest(%s::text[]) AS payload"
