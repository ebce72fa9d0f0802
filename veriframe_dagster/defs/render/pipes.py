"""The Dagster side of Pipes over the API: the worker's stored messages, replayed.

The agent's context comes from the API (`api/protocol/pipes.py`), not from the run, so the injector
injects nothing. The reader reads the job's attempts from the warehouse: failed or expired
attempts are logged with their reasons; the completed attempt's messages are handed, in
order, to Dagster's own Pipes handler, which turns them into the run's logs and the
materialization. The run may start long after the render (Dagster down, queue full): what
is stored is replayed all the same; re-executed, it replays the same messages again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import dagster as dg
import sqlalchemy as sa

DELIVERED = ("completed", "verifying", "verified")
ATTEMPTS = sa.text(
    """
    SELECT id, attempt, worker_address, state, result_cid, result, failure_reason
    FROM job_attempts WHERE job_id = :job_id ORDER BY id
    """
)
MESSAGES = sa.text(
    "SELECT seq, message FROM pipes_messages WHERE attempt_id = :id AND seq >= :after ORDER BY seq"
)


class NoInjection(dg.PipesContextInjector):
    """The agent reads its context from the API; nothing is injected from the run."""

    @contextmanager
    def inject_context(self, context_data: Any) -> Iterator[dict]:
        yield {"served_by": "the VeriFrame API (GET /api/v1/jobs/{id}/pipes/context)"}

    def no_messages_debug_text(self) -> str:
        return "The worker agent reads its Pipes context from the API, not from this run."


@dataclass
class Outcome:
    """What the job's attempts came to, once the reader has seen the end."""

    completed: dict[str, Any] | None = None
    failures: list[str] = field(default_factory=list)


class WarehouseMessageReader(dg.PipesMessageReader):
    """Polls the warehouse for the job's attempts and messages until it is delivered (a
    completed attempt whose `closed` message is stored) or `max_failures` attempts failed."""

    def __init__(
        self,
        engine: sa.Engine,
        job_id: int,
        log: Callable[[str], None],
        *,
        max_failures: int = 3,
        poll_s: float = 0.5,
    ):
        self.engine, self.job_id, self.log = engine, job_id, log
        self.max_failures, self.poll_s = max_failures, poll_s
        self.outcome = Outcome()
        self.done = threading.Event()
        self.error: BaseException | None = None

    @contextmanager
    def read_messages(self, handler: Any) -> Iterator[dict]:
        stop = threading.Event()
        thread = threading.Thread(target=self._follow, args=(handler, stop), daemon=True)
        thread.start()
        try:
            yield {"stored_in": "pipes_messages"}
        finally:
            stop.set()
            thread.join()

    def no_messages_debug_text(self) -> str:
        return f"No attempt of job {self.job_id} has stored Pipes messages yet."

    def _follow(self, handler: Any, stop: threading.Event) -> None:
        seen: set[int] = set()  # ended attempts already logged
        replayed: dict[int, int] = {}  # attempt id -> next seq handed to the handler
        try:
            while not stop.is_set() and not self.done.is_set():
                with self.engine.connect() as conn:
                    attempts = conn.execute(ATTEMPTS, {"job_id": self.job_id}).mappings().all()
                    for attempt in attempts:
                        self._attempt(conn, dict(attempt), handler, seen, replayed)
                if not self.done.is_set():
                    stop.wait(self.poll_s)
        except BaseException as err:  # surfaced by the asset, never lost in the thread
            self.error = err
            self.done.set()

    def _attempt(self, conn, attempt: dict, handler, seen: set[int], replayed: dict) -> None:
        number, state = attempt["attempt"], attempt["state"]
        if state in ("failed", "expired", "rejected"):
            if attempt["id"] not in seen:
                seen.add(attempt["id"])
                reason = attempt["failure_reason"] or "its lease expired"
                self.outcome.failures.append(f"attempt {number}: {reason}")
                self.log(
                    f"Job {self.job_id}: attempt {number} by {attempt['worker_address']} "
                    f"{state}: {reason}"
                )
                if len(self.outcome.failures) >= self.max_failures:
                    self.done.set()
            return
        if state not in DELIVERED:
            return  # running: its messages are replayed once it has delivered
        after = replayed.get(attempt["id"], 0)
        closed = False
        for row in conn.execute(MESSAGES, {"id": attempt["id"], "after": after}):
            handler.handle_message(row.message)
            replayed[attempt["id"]] = row.seq + 1
            closed |= row.message.get("method") == "closed"
        if closed:
            self.outcome.completed = attempt
            self.done.set()

    def wait(self, timeout_s: float | None = None) -> Outcome:
        """Block until the job is delivered or failed for good (or `timeout_s` passes)."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while not self.done.wait(1.0):
            if deadline is not None and time.monotonic() > deadline:
                raise dg.Failure(f"job {self.job_id} was not delivered within {timeout_s:g} s")
        if self.error is not None:
            raise self.error
        return self.outcome
