"""The change notification every warehouse writer sends, so live readers need not poll.

A writer calls `notify_changes` inside the transaction that changed jobs or workers rows:
Postgres delivers the `pg_notify` to every `LISTEN veriframe_changes` session when that
transaction commits, and drops it on rollback, so a notification never announces a change
that did not happen. The payload names rows, never their values (readers load the current
row): compact JSON

    {"source": "chain", "jobs": [12, 13], "workers": ["0x04…(64 hex)"]}

split into several notifications so each stays well under Postgres' 8000-byte limit.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import sqlalchemy as sa

CHANNEL = "veriframe_changes"
MAX_PAYLOAD_BYTES = 7000
"""Postgres refuses payloads of 8000 bytes or more; ids and addresses are ASCII."""

_NOTIFY = sa.text(
    "SELECT pg_notify(:channel, payload) FROM unnest(CAST(:payloads AS text[])) AS payload"
)


def payloads(source: str, jobs: Iterable[int] = (), workers: Iterable[str] = ()) -> list[str]:
    """The notification payloads announcing these jobs and workers (duplicates removed,
    first-seen order kept), each at most `MAX_PAYLOAD_BYTES` long; none when both are empty."""
    job_texts = [str(j) for j in dict.fromkeys(int(j) for j in jobs)]
    worker_texts = [json.dumps(str(w)) for w in dict.fromkeys(workers)]
    if not job_texts and not worker_texts:
        return []
    head = '{"source":' + json.dumps(source) + ',"jobs":['
    budget = MAX_PAYLOAD_BYTES - len(head) - len('],"workers":[]}')
    out: list[str] = []
    batch: tuple[list[str], list[str]] = ([], [])
    used = 0
    for kind, texts in enumerate((job_texts, worker_texts)):
        for text in texts:
            if used + len(text) + 1 > budget and (batch[0] or batch[1]):
                out.append(head + ",".join(batch[0]) + '],"workers":[' + ",".join(batch[1]) + "]}")
                batch, used = ([], []), 0
            batch[kind].append(text)
            used += len(text) + 1
    out.append(head + ",".join(batch[0]) + '],"workers":[' + ",".join(batch[1]) + "]}")
    return out


def notify_changes(
    conn: sa.Connection, *, source: str, jobs: Iterable[int] = (), workers: Iterable[str] = ()
) -> None:
    """Announce, on commit of `conn`'s transaction, that these job ids and worker addresses
    (normalised, `0x` + 64 hex digits) changed. One statement, whatever the number of ids."""
    found = payloads(source, jobs, workers)
    if found:
        conn.execute(_NOTIFY, {"channel": CHANNEL, "payloads": found})
