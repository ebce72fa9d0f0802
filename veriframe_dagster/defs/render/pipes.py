"""The Dagster side of Pipes over the API: one attempt's stored messages, replayed.

The agent's context comes from the API (`api/protocol/pipes.py`), not from the run, so the
injector injects nothing. The reader hands the attempt's stored messages, in order, to
Dagster's own Pipes handler as the session opens, which turns them into the run's logs and
the reported materialization. The run starts once the attempt has an outcome to record and
never waits for more: what is stored then is replayed (the worker's messages sent after its
delivery, such as its `submit_result` line, stay in `pipes_messages`); re-executed, the run
replays the same messages again.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dagster as dg
import sqlalchemy as sa

MESSAGES = sa.text("SELECT message FROM pipes_messages WHERE attempt_id = :id ORDER BY seq")


class NoInjection(dg.PipesContextInjector):
    """The agent reads its context from the API; nothing is injected from the run."""

    @contextmanager
    def inject_context(self, context_data: Any) -> Iterator[dict]:
        yield {"served_by": "the VeriFrame API (GET /api/v1/jobs/{id}/pipes/context)"}

    def no_messages_debug_text(self) -> str:
        return "The worker agent reads its Pipes context from the API, not from this run."


class StoredMessageReader(dg.PipesMessageReader):
    """Replays the messages one attempt stored (`pipes_messages`), all of them at once."""

    def __init__(self, engine: sa.Engine, attempt_id: int):
        self.engine, self.attempt_id = engine, attempt_id

    @contextmanager
    def read_messages(self, handler: Any) -> Iterator[dict]:
        with self.engine.connect() as conn:
            for row in conn.execute(MESSAGES, {"id": self.attempt_id}):
                handler.handle_message(row.message)
        yield {"stored_in": "pipes_messages"}

    def no_messages_debug_text(self) -> str:
        return f"Attempt {self.attempt_id} stored no Pipes messages."
