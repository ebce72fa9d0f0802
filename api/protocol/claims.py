"""The claim rules, in one place the routes and the tests call: who may take which job, the
lease that makes a claim temporary, and how an attempt ends.

A claim is one conditional UPDATE of the job row (`status = 'open'` → `'assigned'`): Postgres
lets one transaction at a time change the row and re-checks the condition for the others,
so of any number of concurrent claims exactly one wins. The attempt row beside it holds the
lease; a partial unique index allows one live attempt per job. `claim_next` lets the
server pick instead: the best-paid job the worker may take that no concurrent claim has
locked (`FOR UPDATE SKIP LOCKED`), so workers asking at once never collide.

The worker protocol runs on asyncpg (`api.database`), its writes announced right after
commit (`Transaction.announce`); the rarer lease sweep announces in its transaction. The
statements are fixed SQL with bound parameters, prepared once per connection: building
SQLAlchemy expressions per request was most of a claim's CPU (bench/README.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg
import sqlalchemy as sa

from api.auth.store import LIVE_SESSION, SESSION_ENDED, SESSION_IS_LIVE
from api.database import Transaction
from api.documents import CLAIM_JSON, CLAIMED_JOB_JSON, JOB_DETAIL, SETTINGS_JOIN
from api.prepared import Prepared
from api.schemas import version_numbers
from veriframe_core.chain import rules
from veriframe_core.protocol import RenderSettingsIn
from veriframe_core.verification import Draw, draw
from veriframe_core.warehouse.notify import notify_changes
from veriframe_core.warehouse.tables import LIVE_STATES, RELEASED_PREFIX


class ClaimRefused(Exception):
    """The caller's session has ended (`status` 401), it may not do this (403), the job is
    unknown (404) or not in a state for it (409); `api.errors` answers it with that status."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class ClaimLimits:
    """What bounds a claim (`VERIFRAME_API_*`): its lease, the failed attempts after which a
    worker is blocked from a job, the claims one worker may hold, and how long a new job
    waits for its creator's render settings."""

    lease_s: int
    max_failures: int
    max_active: int
    grace_s: float = 0
    max_rejections: int | None = None  # rejected deliveries after which a worker claims none

    def params(self) -> dict[str, Any]:
        """The claim statements' parameters (`max_failures` goes to the worker's facts)."""
        return {"lease_s": self.lease_s, "max_active": self.max_active, "grace_s": self.grace_s}


REPORTED = {"failed": "reported failed", "rejected": "rejected by verification"}
DEFAULT_RESOLUTION = (RenderSettingsIn().resolution_x, RenderSettingsIn().resolution_y)


@dataclass(frozen=True)
class VerificationDraw:
    """How a delivery's verification is drawn (`VERIFRAME_VERIFICATION_*`)."""

    crops: int
    share: float

    def draw(self, width: int, height: int) -> Draw:
        return draw(width, height, self.crops, self.share)


@dataclass(frozen=True)
class WorkerFacts:
    """What eligibility needs of a worker: its chain columns, declared capabilities, the jobs
    it is blocked from, whether it created open jobs, how many claims it holds, and how
    many of its results verification rejected."""

    address: str
    registered: bool
    verified: bool
    reputation: int
    jobs_completed: int
    jobs_failed: int
    active: bool
    capabilities: dict[str, Any] | None
    blocked: tuple[int, ...]
    creates_open_jobs: bool
    running: int
    rejections: int

    def _declared(self, name: str) -> Any:
        return (self.capabilities or {}).get(name)

    @property
    def blender_version(self) -> list[int] | None:
        return version_numbers(self._declared("blender_version"))

    def params(self) -> dict[str, Any]:
        """The bound parameters of CLAIMABLE."""
        return {
            "worker": self.address,
            "reputation": self.reputation,
            "vram": self._declared("vram_mb"),
            "devices": self._declared("devices"),
            "blender": self.blender_version,
            "os": self._declared("os"),
            "blocked": list(self.blocked),
        }

    def capability_key(self) -> tuple:
        devices = self._declared("devices")
        return (
            tuple(sorted(devices)) if devices else None,
            self._declared("vram_mb"),
            tuple(self.blender_version or ()),
            self._declared("os"),
        )


RUNNING = """(SELECT count(*) FROM job_attempts r
    WHERE r.worker_address = :worker AND r.state = 'running')"""
"""How many claims the worker holds (SQL)."""
# creates_open_jobs is a count, not EXISTS: the generic plan of EXISTS scanned every job for
# a worker that created none
FACTS_COLUMNS = f"""w.address, w.registered, w.verified, w.reputation, w.jobs_completed,
    w.jobs_failed, w.active, w.capabilities,
    ARRAY(SELECT a.job_id FROM job_attempts a
          WHERE a.worker_address = :worker AND a.state IN ('failed', 'rejected')
          GROUP BY a.job_id
          HAVING count(*) >= :max_failures OR bool_or(a.state = 'rejected')) AS blocked,
    (SELECT count(*) FROM jobs c
     WHERE c.creator_address = :worker AND c.status = 'open') > 0 AS creates_open_jobs,
    {RUNNING} AS running,
    (SELECT count(*) FROM verifications v
     WHERE v.worker_address = :worker AND v.state = 'rejected') AS rejections"""
WORKER_FACTS = Prepared(
    "veriframe_worker_facts", f"SELECT {FACTS_COLUMNS} FROM workers w WHERE w.address = :worker"
)
CLAIMANT = Prepared(
    "veriframe_claimant",
    f"""SELECT {SESSION_IS_LIVE} AS live, {FACTS_COLUMNS}
        FROM (SELECT pg_advisory_xact_lock(hashtext(:worker))) claim_lock
        LEFT JOIN workers w ON w.address = :worker""",
)
"""Take the worker's claim lock; its facts and whether its session is live. The facts are
of the statement's snapshot, from before the lock: the claim that follows counts the
worker's claims again (see `_claim_sql`)."""


def _facts(row: Any) -> WorkerFacts:
    return WorkerFacts(*row[:8], tuple(int(j) for j in row[8]), *row[9:])


def load_worker(conn: sa.Connection, address: str, max_failures: int) -> WorkerFacts | None:
    """The worker's facts, or None for an address the warehouse does not know."""
    row = WORKER_FACTS(conn, {"worker": address, "max_failures": max_failures}).first()
    return None if row is None else _facts(row)


async def _claimant(
    tx: Transaction, address: str, session_id: str, limits: ClaimLimits
) -> WorkerFacts:
    """The facts of a worker about to claim, as it takes its claim lock; ClaimRefused unless
    its session is live and it may take jobs at all."""
    params = {"worker": address, "max_failures": limits.max_failures, "sid": session_id}
    row = await CLAIMANT.fetchrow(tx.conn, params)
    if not row["live"]:
        raise ClaimRefused(401, SESSION_ENDED)
    worker = None if row["address"] is None else _facts(row[1:])
    if (reason := ineligibility(worker, limits.max_rejections)) is not None:
        raise ClaimRefused(403, reason)
    assert worker is not None
    return worker


async def require_live_session(tx: Transaction, session_id: str) -> None:
    if not await LIVE_SESSION.fetchval(tx.conn, {"sid": session_id}):
        raise ClaimRefused(401, SESSION_ENDED)


def ineligibility(worker: WorkerFacts | None, max_rejections: int | None = None) -> str | None:
    """Why the contract's `is_worker_eligible` says no for any job (its minimum aside), why
    the worker's own profile says it takes none, or that verification rejected
    `max_rejections` of its results."""
    if worker is None or not worker.registered:
        return "not registered on chain: call register_worker on the JobRegistry first"
    if not worker.verified:
        return "not verified: the JobRegistry owner has not verified this worker"
    if not worker.active:
        return "inactive: the worker's profile says it takes no jobs (set active to true)"
    if rules.failure_rate_too_high(worker.jobs_completed, worker.jobs_failed):
        total = worker.jobs_completed + worker.jobs_failed
        return (
            f"failure rate above {rules.MAX_FAILURE_RATE_PERCENT} % ({worker.jobs_failed}/{total})"
        )
    if max_rejections is not None and worker.rejections >= max_rejections:
        return (
            f"{worker.rejections} results rejected by verification (at most "
            f"{max_rejections - 1}): this worker may claim no more jobs"
        )
    return None


CAPABILITY_MATCH = """coalesce(
        (s.min_vram_mb IS NULL OR s.min_vram_mb <= :vram)
        AND (s.required_devices IS NULL OR s.required_devices && CAST(:devices AS varchar[]))
        AND (s.min_blender_version IS NULL
             OR s.min_blender_version <= CAST(:blender AS integer[]))
        AND (s.required_os IS NULL OR :os = ANY(s.required_os)),
        false)"""
"""The worker (parameters of `WorkerFacts.params()`) declared enough for the requirements of
render settings `s` (an undeclared capability meets no requirement)."""

CAPABLE = f"""NOT EXISTS (
    SELECT 1 FROM job_render_settings s
    WHERE s.job_id = j.job_id AND s.created_tx = j.created_tx AND NOT {CAPABILITY_MATCH})"""
"""The job (`j`) has no render settings, or the worker meets their requirements."""

GRACE = "make_interval(secs => CAST(:grace_s AS float8))"
HAS_SETTINGS = """EXISTS (SELECT 1 FROM job_render_settings g
    WHERE g.job_id = j.job_id AND g.created_tx = j.created_tx)"""
RELEASED = f"""(CAST(:grace_s AS float8) = 0 OR j.indexed_at <= now() - {GRACE}
    OR {HAS_SETTINGS})"""
"""The job (`j`) has its creator's render settings, or waited `:grace_s` since it was
indexed: its creator can attach them only once it is indexed, and a worker woken at once
would otherwise render it with the defaults."""

CLAIMABLE = f"""j.status = 'open' AND j.deadline > now()
    AND j.min_reputation <= :reputation
    AND j.creator_address <> :worker
    AND j.job_id <> ALL(CAST(:blocked AS numeric[]))
    AND {CAPABLE} AND {RELEASED}"""
"""The jobs (`j`) a worker that passes `ineligibility` may claim now; parameters from
`WorkerFacts.params()` and `grace_s`."""


def _claim_sql(won: str) -> str:
    """Assign the job `won` selects (a condition on `jobs j`) and open its attempt with a
    lease, unless the worker holds `:max_active` claims; the job's id and document as JSON
    (as `JOB_DETAIL` reads it after the commit), if one was claimed.

    The cap is counted here, in a snapshot taken after `CLAIMANT` took the worker's claim
    lock, so a concurrent claim of the same worker has committed and counts: two cannot both
    pass it. The document is built from the statement's own new rows, which the statement
    cannot read back from the tables."""
    return f"""
    WITH won AS (
        UPDATE jobs j SET status = 'assigned'
        WHERE {won} AND {RUNNING} < :max_active
        RETURNING j.*),
    a AS (
        INSERT INTO job_attempts (job_id, created_tx, attempt, worker_address, state,
                                  claimed_at, lease_expires_at, progress)
        SELECT won.job_id, won.created_tx,
               (SELECT count(*) + 1 FROM job_attempts p WHERE p.job_id = won.job_id),
               :worker, 'running', now(), now() + make_interval(secs => :lease_s), 0
        FROM won
        RETURNING *)
    SELECT j.job_id, {CLAIMED_JOB_JSON}::text FROM won j {SETTINGS_JOIN} CROSS JOIN a
    """


CLAIM = Prepared("veriframe_claim", _claim_sql(f"j.job_id = :job_id AND {CLAIMABLE}"))
CLAIM_NEXT = Prepared(
    "veriframe_claim_next",
    _claim_sql(
        f"""j.status = 'open' AND j.job_id = (
            SELECT j.job_id FROM jobs j WHERE {CLAIMABLE}
            ORDER BY j.reward_amount DESC, j.job_id LIMIT 1 FOR UPDATE SKIP LOCKED)"""
    ),
)
"""The best-paid job the worker may claim that no concurrent claim holds locked."""


async def claim(
    tx: Transaction, address: str, session_id: str, job_id: int, limits: ClaimLimits
) -> str:
    """Claim the job for the worker with a lease; the job's document as JSON. Claiming a job
    the worker holds answers the same (a retry); ClaimRefused otherwise."""
    worker = await _claimant(tx, address, session_id, limits)
    params = {**worker.params(), **limits.params(), "job_id": job_id}
    if worker.running < limits.max_active and (won := await CLAIM.fetchrow(tx.conn, params)):
        tx.announce(jobs=[job_id])
        return won[1]
    state = await STATE_OF.fetchrow(tx.conn, params)
    if state is None:
        raise ClaimRefused(404, f"job {job_id} not found")
    if state["holder"] == address:
        return await JOB_DETAIL.fetchval(tx.conn, {"job_id": job_id})
    if state["running"] >= limits.max_active:
        raise _capped(state["running"], limits.max_active)
    raise _lost_claim(worker, job_id, state)


async def claim_next(
    tx: Transaction, address: str, session_id: str, limits: ClaimLimits
) -> str | None:
    """Claim the best-paid job the worker may take now; its document as JSON, or None when
    there is none (ClaimRefused when the worker may take none at all)."""
    worker = await _claimant(tx, address, session_id, limits)
    if worker.running >= limits.max_active:
        raise _capped(worker.running, limits.max_active)
    params = {**worker.params(), **limits.params()}
    won = await CLAIM_NEXT.fetchrow(tx.conn, params)
    if won is None:
        if (running := await RUNNING_CLAIMS.fetchval(tx.conn, params)) >= limits.max_active:
            raise _capped(running, limits.max_active)  # claims of its own committed meanwhile
        return None
    job_id, document = won
    tx.announce(jobs=[job_id])
    return document


def _capped(running: int, max_active: int) -> ClaimRefused:
    return ClaimRefused(409, f"already holding {running} claims (at most {max_active})")


RUNNING_CLAIMS = Prepared("veriframe_running_claims", f"SELECT {RUNNING}")


# holder: of the one live attempt (found by the partial unique index), if its lease runs; a
# condition on the lease in the WHERE would let the plan scan every running attempt instead
STATE_OF = Prepared(
    "veriframe_state_of",
    f"""SELECT j.status, j.deadline, j.deadline <= now() AS passed,
               j.creator_address, j.min_reputation, {CAPABLE} AS capable,
               {RELEASED} AS released, j.indexed_at + {GRACE} AS released_at,
               (SELECT CASE WHEN a.state = 'running' AND a.lease_expires_at > now()
                            THEN a.worker_address END
                FROM job_attempts a
                WHERE a.job_id = j.job_id AND a.state IN {LIVE_STATES}) AS holder,
               {RUNNING} AS running
        FROM jobs j WHERE j.job_id = :job_id""",
)
"""Why a claim's UPDATE matched nothing: the job's state, who holds it now, and how many
claims the worker holds."""


def _lost_claim(worker: WorkerFacts, job_id: int, row: asyncpg.Record) -> ClaimRefused:
    """The precise reason a claim's UPDATE matched nothing, from the job's `STATE_OF`."""
    if row["creator_address"] == worker.address:
        return ClaimRefused(403, "a job's creator cannot work on it (submit_result refuses)")
    if worker.reputation < row["min_reputation"]:
        return ClaimRefused(
            403,
            f"reputation {worker.reputation} is below the job's minimum {row['min_reputation']}",
        )
    if not row["capable"]:
        return ClaimRefused(
            403, "the worker's declared capabilities do not meet the job's requirements"
        )
    if job_id in worker.blocked:
        return ClaimRefused(
            403,
            f"blocked from job {job_id} after too many failed attempts, or a result of "
            "yours for it was rejected by verification",
        )
    if row["status"] != "open":
        return ClaimRefused(409, f"job {job_id} is {row['status']}, not open")
    if row["passed"]:
        deadline = row["deadline"].isoformat()
        return ClaimRefused(409, f"job {job_id} passed its deadline ({deadline})")
    if not row["released"]:
        return ClaimRefused(
            409,
            f"job {job_id} waits for its creator's render settings until "
            f"{row['released_at'].isoformat()}; claim it then",
        )
    return ClaimRefused(409, f"job {job_id} is not claimable now")


RECORDABLE = "recordable_seq = next_recordable_seq()"
"""Marks an attempt as having an outcome for the render sensor to record (its run is
requested then, never at the claim); set in the transaction that ends the attempt, whose
change notification wakes the sensor (migration 0012)."""

EXPIRE_LEASES = sa.text(
    f"""
    WITH lapsed AS (
        SELECT id FROM job_attempts WHERE state = 'running' AND lease_expires_at <= now()
        FOR UPDATE SKIP LOCKED),
    expired AS (
        UPDATE job_attempts a SET state = 'expired', ended_at = now(), {RECORDABLE}
        FROM lapsed WHERE a.id = lapsed.id
        RETURNING a.job_id)
    UPDATE jobs SET status = 'open'
    WHERE job_id IN (SELECT job_id FROM expired) AND status = 'assigned'
    RETURNING job_id
    """
)


def expire_leases(conn: sa.Connection) -> list[int]:
    """End running attempts whose lease has passed and reopen their jobs. Attempts that a
    request holds locked (a late heartbeat or delivery) are left to the next sweep: waiting
    for one while holding `next_recordable_seq`'s lock could deadlock with it."""
    job_ids = [int(j) for j in conn.execute(EXPIRE_LEASES).scalars()]
    notify_changes(conn, source="api", jobs=job_ids)
    return job_ids


HELD = Prepared(
    "veriframe_held",
    """
    SELECT id, attempt, state, result_cid, lease_expires_at <= now() AS lapsed
    FROM job_attempts WHERE job_id = :job_id AND worker_address = :worker
    ORDER BY id DESC LIMIT 1 FOR UPDATE
    """,
)
JOB_EXISTS = Prepared("veriframe_job_exists", "SELECT 1 FROM jobs WHERE job_id = :job_id")


async def held_attempt(
    tx: Transaction, worker: str, session_id: str, job_id: int, *, rejected_ok: bool = False
) -> asyncpg.Record:
    """The caller's latest attempt on the job (locked for the transaction) if it is live (or,
    `rejected_ok`, a delivery verification rejected: its worker may still report on it), else
    ClaimRefused: 401 when its session ended, 403 when the caller never claimed it, 409 when
    its lease ran out or it was reported failed. A lapsed lease counts as ended before the
    sweep reopens the job."""
    await require_live_session(tx, session_id)
    mine = await HELD.fetchrow(tx.conn, {"job_id": job_id, "worker": worker})
    if mine is None:
        if await JOB_EXISTS.fetchval(tx.conn, {"job_id": job_id}) is None:
            raise ClaimRefused(404, f"job {job_id} not found")
        raise ClaimRefused(403, f"job {job_id} is not claimed by {worker}")
    state = mine["state"]
    if state == "expired" or (state == "running" and mine["lapsed"]):
        raise ClaimRefused(409, f"the lease on job {job_id} expired; claim it again if it is open")
    if state == "failed" or (state == "rejected" and not rejected_ok):
        raise ClaimRefused(409, f"attempt {mine['attempt']} on job {job_id} was {REPORTED[state]}")
    return mine


HEARTBEAT = Prepared(
    "veriframe_heartbeat",
    f"""
    UPDATE job_attempts a SET heartbeat_at = now(),
        lease_expires_at = now() + make_interval(secs => :lease_s),
        progress = greatest(a.progress, :progress), status_message = :message
    WHERE a.id = :id RETURNING {CLAIM_JSON}::text
    """,
)


async def heartbeat(
    tx: Transaction,
    worker: str,
    session_id: str,
    job_id: int,
    progress: float,
    message: str | None,
    lease_s: int,
) -> str:
    """Extend the lease and record progress (it never goes back); the claim as JSON."""
    attempt = await running_attempt(tx, worker, session_id, job_id)
    values = {"id": attempt["id"], "lease_s": lease_s, "progress": progress, "message": message}
    claim_json = await HEARTBEAT.fetchval(tx.conn, values)
    tx.announce(jobs=[job_id])
    return claim_json


async def running_attempt(
    tx: Transaction, worker: str, session_id: str, job_id: int
) -> asyncpg.Record:
    """`held_attempt`, which must still be running (409 once completed)."""
    attempt = await held_attempt(tx, worker, session_id, job_id)
    if attempt["state"] != "running":
        raise ClaimRefused(409, f"job {job_id} is already {attempt['state']}")
    return attempt


COMPLETE = Prepared(
    "veriframe_complete",
    """
    WITH done AS (
        UPDATE job_attempts SET state = 'completed', ended_at = now(), progress = 1,
            result_cid = :cid, result = CAST(:result AS jsonb)
        WHERE id = :id RETURNING id, job_id, attempt, worker_address, result_cid),
    verification AS (
        INSERT INTO verifications (job_id, attempt_id, attempt, worker_address, result_cid,
                                   noisy_cid, source, state, windows, seeds)
        SELECT job_id, id, attempt, worker_address, result_cid, :noisy_cid, 'delivery', 'open',
               CAST(:windows AS jsonb), CAST(:seeds AS jsonb)
        FROM done)
    UPDATE jobs SET status = 'completed'
    WHERE job_id IN (SELECT job_id FROM done) AND status = 'assigned'
    """,
)
FRAME_SIZE = Prepared(
    "veriframe_frame_size",
    f"""SELECT coalesce(r.resolution_x, {DEFAULT_RESOLUTION[0]}),
               coalesce(r.resolution_y, {DEFAULT_RESOLUTION[1]})
        FROM jobs j {SETTINGS_JOIN} WHERE j.job_id = :job_id""",
)
"""The resolution the job's frame has, which the verification's windows are drawn in."""


async def complete(
    tx: Transaction,
    worker: str,
    session_id: str,
    job_id: int,
    result_cid: str,
    noisy_cid: str | None,
    result: dict[str, Any],
    verification: VerificationDraw,
) -> str:
    """Deliver the result and open its verification, with windows and seeds drawn now that
    the frame is fixed; the job's document as JSON. A retry with the same CID answers the
    same; another CID for a delivered attempt is a conflict."""
    attempt = await held_attempt(tx, worker, session_id, job_id)
    if attempt["state"] != "running":
        if attempt["result_cid"] != result_cid:
            raise ClaimRefused(
                409, f"job {job_id} was already completed with result {attempt['result_cid']}"
            )
    else:
        width, height = await FRAME_SIZE.fetchrow(tx.conn, {"job_id": job_id})
        drawn = verification.draw(width, height)
        values = {
            "id": attempt["id"],
            "cid": result_cid,
            "noisy_cid": noisy_cid,
            "result": result,
            "windows": [w.model_dump() for w in drawn.windows],
            "seeds": list(drawn.seeds),
        }
        await COMPLETE.run(tx.conn, values)
        tx.announce(jobs=[job_id], offered=[job_id])
    return await JOB_DETAIL.fetchval(tx.conn, {"job_id": job_id})


FAIL = Prepared(
    "veriframe_fail",
    f"""
    WITH failed AS (
        UPDATE job_attempts a SET state = 'failed', ended_at = now(), failure_reason = :reason,
            {RECORDABLE}
        WHERE a.id = :id RETURNING a.*),
    reopened AS (
        UPDATE jobs SET status = 'open'
        WHERE job_id IN (SELECT job_id FROM failed) AND status = 'assigned')
    SELECT {CLAIM_JSON}::text,
           (SELECT count(*) + 1 FROM job_attempts p
            WHERE p.job_id = :job_id AND p.worker_address = :worker AND p.state = 'failed')
    FROM failed a
    """,
)


async def fail(
    tx: Transaction, worker: str, session_id: str, job_id: int, reason: str
) -> tuple[str, int]:
    """Record a failed attempt and reopen the job; the claim as JSON and the worker's count
    of failed attempts on the job."""
    attempt = await running_attempt(tx, worker, session_id, job_id)
    values = {"id": attempt["id"], "reason": reason, "job_id": job_id, "worker": worker}
    claim_json, failures = await FAIL.fetchrow(tx.conn, values)
    tx.announce(jobs=[job_id], workers=[worker])
    return claim_json, failures


RELEASE = Prepared(
    "veriframe_release",
    f"""
    WITH released AS (
        UPDATE job_attempts a SET state = 'expired', ended_at = now(),
            lease_expires_at = least(a.lease_expires_at, now()), failure_reason = :reason,
            {RECORDABLE}
        WHERE a.id = :id RETURNING a.*),
    reopened AS (
        UPDATE jobs SET status = 'open'
        WHERE job_id IN (SELECT job_id FROM released) AND status = 'assigned')
    SELECT {CLAIM_JSON}::text FROM released a
    """,
)


async def release(tx: Transaction, worker: str, session_id: str, job_id: int, reason: str) -> str:
    """Give a running claim back before its lease ends (the agent is stopping, or found a
    claim of a crashed run of itself): the attempt ends as its lease would, so it does not
    count against the worker as a failure, and the job reopens now instead of at the lease's
    end. The claim as JSON."""
    attempt = await running_attempt(tx, worker, session_id, job_id)
    claim_json = await RELEASE.fetchval(
        tx.conn, {"id": attempt["id"], "reason": f"{RELEASED_PREFIX}{reason}"}
    )
    tx.announce(jobs=[job_id], workers=[worker])
    return claim_json


HELD_CLAIMS = Prepared(
    "veriframe_held_claims",
    f"""
    SELECT coalesce(json_agg({CLAIM_JSON} ORDER BY a.id), '[]')::text FROM job_attempts a
    WHERE a.worker_address = :worker AND a.state = 'running'
    """,
)


async def running_claims(tx: Transaction, worker: str, session_id: str) -> str:
    """The caller's running claims as a JSON list (lapsed ones too, until the sweep)."""
    await require_live_session(tx, session_id)
    return await HELD_CLAIMS.fetchval(tx.conn, {"worker": worker})
