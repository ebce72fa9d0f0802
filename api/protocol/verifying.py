"""The verification rules: verifier agents take a delivery's verification with a lease,
re-render its crops, and report a verdict that decides the delivery.

A delivery opens its verification in the transaction that records it (`claims.complete`).
A verifier (an operator account listed in `api_verifier_addresses`) claims the oldest open
one that it did not deliver itself, or one whose verifier's lease ran out: a verifier that
died loses its task to the next that asks, with the same windows and seeds, so the verdict
does not depend on who reached it. Its report ends it: `verified` makes the attempt
`verified` (its worker may now take it on chain); `rejected` makes it `rejected` with the
verdict as its reason, reopens the job for other workers and blocks its worker from it.
Either way the attempt now has an outcome for the render sensor to record (its run).
A verifier that cannot verify (the scene does not render, IPFS is down) gives the task back;
after `max_failures` such failures the delivery is rejected with their reasons. A verifier
that stops releases its task, which is offered again at once and counts as nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from api.database import Transaction
from api.documents import SETTINGS_JOIN, SETTINGS_JSON, VERIFICATION_JSON, json_object
from api.prepared import Prepared
from api.protocol.claims import RECORDABLE, ClaimRefused
from veriframe_core.protocol import VerificationReport, VerificationTask
from veriframe_core.warehouse.notify import notify_changes
from veriframe_core.warehouse.tables import verifications

MAX_REASON = 500


@dataclass(frozen=True)
class VerifierRules:
    """What bounds a verification (`VERIFRAME_VERIFICATION_*`)."""

    lease_s: int
    max_failures: int


TASK_JSON = json_object(
    VerificationTask,
    verifications,
    "v",
    verification_id="v.id",
    asset_cid="j.asset_cid",
    render_settings=SETTINGS_JSON,
)
TAKE = Prepared(
    "veriframe_take_verification",
    f"""
    WITH task AS (
        SELECT v.id FROM verifications v
        WHERE (v.state = 'open' OR (v.state = 'claimed' AND v.lease_expires_at <= now()))
          AND v.worker_address <> :verifier
        ORDER BY v.id LIMIT 1 FOR UPDATE SKIP LOCKED),
    v AS (
        UPDATE verifications v SET state = 'claimed', verifier_address = :verifier,
            claimed_at = now(), lease_expires_at = now() + make_interval(secs => :lease_s)
        FROM task WHERE v.id = task.id RETURNING v.*),
    attempt AS (
        UPDATE job_attempts a SET state = 'verifying'
        FROM v WHERE a.id = v.attempt_id AND a.state = 'completed')
    SELECT v.job_id, {TASK_JSON}::text FROM v JOIN jobs j ON j.job_id = v.job_id {SETTINGS_JOIN}
    """,
)
"""The oldest verification the verifier may take, now its own for `lease_s`."""

HELD = Prepared(
    "veriframe_held_verification",
    """SELECT job_id, attempt_id, state, verifier_address, failures
       FROM verifications WHERE id = :id FOR UPDATE""",
)
DECIDE = Prepared(
    "veriframe_decide_verification",
    f"""
    WITH v AS (
        UPDATE verifications SET state = :verdict, report = CAST(:report AS jsonb),
            finished_at = now(), lease_expires_at = NULL
        WHERE id = :id RETURNING *),
    attempt AS (
        UPDATE job_attempts a SET state = :verdict,
            failure_reason = CASE WHEN :verdict = 'rejected' THEN :reason END, {RECORDABLE}
        FROM v WHERE a.id = v.attempt_id RETURNING a.job_id),
    reopened AS (
        UPDATE jobs SET status = 'open'
        WHERE :verdict = 'rejected' AND status = 'completed'
          AND job_id IN (SELECT job_id FROM attempt))
    SELECT {VERIFICATION_JSON}::text FROM v
    """,
)
GIVE_BACK = Prepared(
    "veriframe_give_back_verification",
    f"""
    UPDATE verifications v SET state = 'open', verifier_address = NULL, claimed_at = NULL,
        lease_expires_at = NULL, failures = failures + 1,
        failure_reasons = failure_reasons || jsonb_build_array(CAST(:reason AS text))
    WHERE id = :id RETURNING {VERIFICATION_JSON}::text
    """,
)
RELEASE = Prepared(
    "veriframe_release_verification",
    f"""
    UPDATE verifications v SET state = 'open', verifier_address = NULL, claimed_at = NULL,
        lease_expires_at = NULL
    WHERE id = :id RETURNING {VERIFICATION_JSON}::text
    """,
)
LAPSED = sa.text(
    """
    SELECT now(), ARRAY(
        SELECT job_id FROM verifications
        WHERE state = 'claimed' AND lease_expires_at <= now()
          AND (CAST(:since AS timestamptz) IS NULL OR lease_expires_at > :since))
    """
)
"""The time of the look, and the jobs whose verifier's lease ran out since `:since`."""
READ = Prepared(
    "veriframe_verification",
    f"SELECT {VERIFICATION_JSON}::text FROM verifications v WHERE id = :id",
)


async def take(tx: Transaction, verifier: str, rules: VerifierRules) -> str | None:
    """The next verification for this verifier, as JSON (`VerificationTask`), or None."""
    row = await TAKE.fetchrow(tx.conn, {"verifier": verifier, "lease_s": rules.lease_s})
    if row is None:
        return None
    tx.announce(jobs=[int(row[0])])
    return row[1]


async def _held(tx: Transaction, verifier: str, verification_id: int):
    task = await HELD.fetchrow(tx.conn, {"id": verification_id})
    if task is None:
        raise ClaimRefused(404, f"verification {verification_id} not found")
    if task["state"] != "claimed":
        raise ClaimRefused(409, f"verification {verification_id} is {task['state']}")
    if task["verifier_address"] != verifier:
        raise ClaimRefused(
            409, f"verification {verification_id} is held by another verifier (your lease ran out)"
        )
    return task


async def report(
    tx: Transaction, verifier: str, verification_id: int, found: VerificationReport
) -> str:
    """Decide the delivery by the verifier's report; the verification as JSON."""
    task = await _held(tx, verifier, verification_id)
    return await _decide(tx, verification_id, int(task["job_id"]), found)


async def give_back(
    tx: Transaction, verifier: str, verification_id: int, reason: str, rules: VerifierRules
) -> str:
    """The verifier could not verify: offered again, or rejected after `max_failures`."""
    task = await _held(tx, verifier, verification_id)
    document = await GIVE_BACK.fetchval(tx.conn, {"id": verification_id, "reason": reason})
    failures = task["failures"] + 1
    if failures < rules.max_failures:
        tx.announce(jobs=[int(task["job_id"])], offered=[int(task["job_id"])])
        return document
    rejection = VerificationReport(
        verdict="rejected",
        reasons=[f"{failures} verifiers could not verify the frame; the last: {reason}"],
        crops=[],
        noise_ratio=0,
        noise_z=0,
        noise_level=0,
        seconds=0,
        cpu_seconds=0,
        device="",
        blender_version="",
    )
    return await _decide(tx, verification_id, int(task["job_id"]), rejection)


async def release(tx: Transaction, verifier: str, verification_id: int) -> str:
    """The verifier stops: the task is offered again at once, not counted as a failure."""
    task = await _held(tx, verifier, verification_id)
    document = await RELEASE.fetchval(tx.conn, {"id": verification_id})
    tx.announce(jobs=[int(task["job_id"])], offered=[int(task["job_id"])])
    return document


def offer_lapsed(conn: sa.Connection, since: datetime | None) -> tuple[datetime, list[int]]:
    """Announce the verifications whose verifier's lease ran out after `since` (any, when
    None) as offered again: nothing changes in their rows (the next verifier to ask takes
    them over), so only this look tells waiting verifiers. The time of the look, the next
    one's `since`, and the jobs announced."""
    now, job_ids = conn.execute(LAPSED, {"since": since}).one()
    job_ids = [int(j) for j in job_ids]
    notify_changes(conn, source="api", jobs=job_ids, offered=job_ids)
    return now, job_ids


async def _decide(
    tx: Transaction, verification_id: int, job_id: int, found: VerificationReport
) -> str:
    reason = ("rejected by verification: " + "; ".join(found.reasons))[:MAX_REASON]
    values = {
        "id": verification_id,
        "verdict": found.verdict,
        "report": found.model_dump(mode="json"),
        "reason": reason,
    }
    document = await DECIDE.fetchval(tx.conn, values)
    tx.announce(jobs=[job_id])
    return document


async def read(tx: Transaction, verification_id: int) -> str:
    document = await READ.fetchval(tx.conn, {"id": verification_id})
    if document is None:
        raise ClaimRefused(404, f"verification {verification_id} not found")
    return document
