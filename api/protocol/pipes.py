"""Dagster Pipes over the API: an attempt's context for its holder, and its messages stored.

The worker agent never reaches Dagster. It reads its Pipes context here and posts its
messages in numbered batches; they are stored in `pipes_messages` in order and once: a batch
that repeats stored messages (a retry) stores nothing new, one that skips ahead is refused
with the sequence number to resend from, and one that contradicts what is stored is refused.
The render run replays the stored messages as its logs and materialization.
"""

from __future__ import annotations

from typing import Any

from api.database import Transaction
from api.documents import JOB_DETAIL
from api.prepared import Prepared
from api.protocol.claims import ClaimRefused, held_attempt
from veriframe_core.protocol import JobDetail, PipesContext

MAX_MESSAGES_PER_ATTEMPT = 20_000

STORED = Prepared(
    "veriframe_pipes_stored",
    "SELECT count(*) FROM pipes_messages WHERE attempt_id = :attempt_id",
)
OVERLAP = Prepared(
    "veriframe_pipes_overlap",
    """
    SELECT seq, message FROM pipes_messages
    WHERE attempt_id = :attempt_id AND seq >= :first AND seq < :last ORDER BY seq
    """,
)
INSERT = Prepared(
    "veriframe_pipes_insert",
    """
    INSERT INTO pipes_messages (attempt_id, seq, job_id, method, message)
    SELECT :attempt_id, :first + m.ordinality - 1, :job_id, m.value ->> 'method', m.value
    FROM jsonb_array_elements(CAST(:messages AS jsonb)) WITH ORDINALITY AS m
    """,
)


async def context(tx: Transaction, worker: str, session_id: str, job_id: int) -> PipesContext:
    """The caller's attempt's Pipes context (ClaimRefused unless it holds a live one)."""
    attempt = await held_attempt(tx, worker, session_id, job_id)
    job = JobDetail.model_validate_json(await JOB_DETAIL.fetchval(tx.conn, {"job_id": job_id}))
    return PipesContext.of_attempt(attempt["id"], job, attempt["attempt"])


async def store_messages(
    tx: Transaction,
    worker: str,
    session_id: str,
    job_id: int,
    attempt_number: int,
    first_seq: int,
    messages: list[dict[str, Any]],
) -> tuple[int, int]:
    """Store a batch of the caller's attempt (locked, so batches of one attempt take turns);
    how many were new, and the next sequence number. A rejected delivery's worker may still
    log on it (the verdict it was told)."""
    attempt = await held_attempt(tx, worker, session_id, job_id, rejected_ok=True)
    if attempt["attempt"] != attempt_number:
        raise ClaimRefused(
            409,
            f"your claim on job {job_id} is attempt {attempt['attempt']}, "
            f"not attempt {attempt_number}",
        )
    ids = {"attempt_id": attempt["id"]}
    stored = await STORED.fetchval(tx.conn, ids)
    if first_seq > stored:
        raise ClaimRefused(
            409, f"messages {stored}–{first_seq - 1} are missing: resend from seq {stored}"
        )
    last = first_seq + len(messages)
    overlap = await OVERLAP.fetch(tx.conn, {**ids, "first": first_seq, "last": stored})
    for row in overlap:
        if row["message"] != messages[row["seq"] - first_seq]:
            raise ClaimRefused(409, f"message {row['seq']} differs from the one stored")
    new = messages[max(stored - first_seq, 0) :]
    if stored + len(new) > MAX_MESSAGES_PER_ATTEMPT:
        raise ClaimRefused(
            413, f"an attempt may send {MAX_MESSAGES_PER_ATTEMPT:,} messages at most"
        )
    if new:
        values = {**ids, "first": stored, "job_id": job_id, "messages": new}
        await INSERT.run(tx.conn, values)
    return len(new), max(last, stored)
