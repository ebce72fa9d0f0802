"""The claim rules, in one place the routes and the tests call: who may take which job, the
lease that makes a claim temporary, and how an attempt ends.

A claim is one conditional UPDATE of the job row (`status = 'open'` → `'assigned'`): Postgres
lets one transaction at a time change the row and re-checks the condition for the others,
so of any number of concurrent claims exactly one wins. The attempt row beside it holds the
lease; a partial unique index allows one live attempt per job.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from veriframe_dagster.warehouse.notify import notify_changes
from veriframe_dagster.warehouse.tables import job_attempts, job_render_settings, jobs, workers

MAX_FAILURE_RATE_PERCENT = 30  # the contract's is_worker_eligible rule
FAILURE_RATE_MIN_JOBS = 5


class ClaimRefused(Exception):
    """The caller may not do this (`status` 403), or the job is not in a state for it (409)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class WorkerFacts:
    """What eligibility needs of a worker row (chain columns and declared capabilities)."""

    address: str
    registered: bool
    verified: bool
    reputation: int
    jobs_completed: int
    jobs_failed: int
    active: bool
    capabilities: dict[str, Any] | None

    @property
    def devices(self) -> list[str] | None:
        return (self.capabilities or {}).get("devices")

    @property
    def vram_mb(self) -> int | None:
        return (self.capabilities or {}).get("vram_mb")

    @property
    def blender_version(self) -> list[int] | None:
        version = (self.capabilities or {}).get("blender_version")
        return [int(p) for p in version.split(".")] if version else None

    @property
    def os(self) -> str | None:
        return (self.capabilities or {}).get("os")


def load_worker(conn: sa.Connection, address: str) -> WorkerFacts | None:
    w = workers.c
    row = conn.execute(
        sa.select(
            w.address,
            w.registered,
            w.verified,
            w.reputation,
            w.jobs_completed,
            w.jobs_failed,
            w.active,
            w.capabilities,
        ).where(w.address == address)
    ).first()
    return WorkerFacts(*row) if row else None


def ineligibility(worker: WorkerFacts | None) -> str | None:
    """Why the contract's `is_worker_eligible` says no for any job (its minimum aside)."""
    if worker is None or not worker.registered:
        return "not registered on chain: call register_worker on the JobRegistry first"
    if not worker.verified:
        return "not verified: the JobRegistry owner has not verified this worker"
    if not worker.active:
        return "inactive: the worker's profile says it takes no jobs (set active to true)"
    total = worker.jobs_completed + worker.jobs_failed
    if (
        total > FAILURE_RATE_MIN_JOBS
        and worker.jobs_failed * 100 // total > MAX_FAILURE_RATE_PERCENT
    ):
        return f"failure rate above {MAX_FAILURE_RATE_PERCENT} % ({worker.jobs_failed}/{total})"
    return None


def settings_join() -> sa.ColumnElement:
    """Render settings belong to the job with this id *and* creating transaction."""
    return sa.and_(
        job_render_settings.c.job_id == jobs.c.job_id,
        job_render_settings.c.created_tx == jobs.c.created_tx,
    )


def capability_match(worker: WorkerFacts, settings: sa.FromClause) -> sa.ColumnElement[bool]:
    """The settings row's required capabilities are met by what the worker declared (an
    undeclared capability meets no requirement)."""
    s = settings.c
    devices, version = worker.devices, worker.blender_version
    vram, os = worker.vram_mb, worker.os
    return sa.func.coalesce(
        sa.and_(
            sa.or_(s.min_vram_mb.is_(None), s.min_vram_mb <= vram if vram is not None else False),
            sa.or_(
                s.required_devices.is_(None),
                s.required_devices.op("&&")(sa.cast(devices, s.required_devices.type))
                if devices
                else False,
            ),
            sa.or_(
                s.min_blender_version.is_(None),
                s.min_blender_version <= sa.cast(version, s.min_blender_version.type)
                if version
                else False,
            ),
            sa.or_(s.required_os.is_(None), s.required_os.any(os) if os else False),
        ),
        False,
    )


def capable(worker: WorkerFacts) -> sa.ColumnElement[bool]:
    """The job has no render settings, or the worker meets their requirements."""
    settings = job_render_settings.alias("required")
    s = settings.c
    mismatch = (
        sa.select(1)
        .where(
            s.job_id == jobs.c.job_id,
            s.created_tx == jobs.c.created_tx,
            ~capability_match(worker, settings),
        )
        .correlate(jobs)
    )
    return ~mismatch.exists()


def blocked_jobs(worker: str, max_failures: int) -> sa.Select:
    """Jobs the worker failed `max_failures` times: it may not claim them again."""
    a = job_attempts.c
    return (
        sa.select(a.job_id)
        .where(a.worker_address == worker, a.state == "failed")
        .group_by(a.job_id)
        .having(sa.func.count() >= max_failures)
    )


def claimable(worker: WorkerFacts, max_failures: int) -> sa.ColumnElement:
    """The WHERE of jobs `worker` may claim now (it must pass `ineligibility` too)."""
    j = jobs.c
    return sa.and_(
        j.status == "open",
        j.deadline > sa.func.now(),
        j.min_reputation <= worker.reputation,
        j.creator_address != worker.address,
        capable(worker),
        j.job_id.not_in(blocked_jobs(worker.address, max_failures)),
    )


def expire_leases(conn: sa.Connection, job_id: int | None = None) -> list[int]:
    """End running attempts whose lease has passed and reopen their jobs (all, or one job)."""
    a = job_attempts.c
    condition = sa.and_(a.state == "running", a.lease_expires_at <= sa.func.now())
    if job_id is not None:
        condition = sa.and_(condition, a.job_id == job_id)
    expired = (
        job_attempts.update()
        .where(condition)
        .values(state="expired", ended_at=sa.func.now())
        .returning(a.job_id)
        .cte("expired")
    )
    reopened = conn.execute(
        jobs.update()
        .where(jobs.c.job_id.in_(sa.select(expired.c.job_id)), jobs.c.status == "assigned")
        .values(status="open")
        .returning(jobs.c.job_id)
    ).scalars()
    job_ids = [int(j) for j in reopened]
    notify_changes(conn, source="api", jobs=job_ids)
    return job_ids


def _refusal(conn: sa.Connection, worker: WorkerFacts, job_id: int, max_failures: int) -> str:
    """Why `worker` may not claim the job (for a 403), or '' when only its state is in the way."""
    j = jobs.c
    row = conn.execute(
        sa.select(
            j.creator_address,
            j.min_reputation,
            capable(worker).label("capable"),
        ).where(j.job_id == job_id)
    ).one()
    if row.creator_address == worker.address:
        return "a job's creator cannot work on it (the contract refuses submit_result)"
    if worker.reputation < row.min_reputation:
        return f"reputation {worker.reputation} is below the job's minimum {row.min_reputation}"
    if not row.capable:
        return "the worker's declared capabilities do not meet the job's requirements"
    failed = conn.execute(
        sa.select(sa.func.count()).select_from(
            blocked_jobs(worker.address, max_failures)
            .where(job_attempts.c.job_id == job_id)
            .subquery()
        )
    ).scalar_one()
    if failed:
        return f"blocked from job {job_id} after {max_failures} failed attempts"
    return ""


def _running(conn: sa.Connection, job_id: int) -> sa.Row | None:
    a = job_attempts.c
    return conn.execute(
        sa.select(job_attempts).where(a.job_id == job_id, a.state.in_(("running", "completed")))
    ).first()


def claim(
    conn: sa.Connection,
    worker: WorkerFacts | None,
    job_id: int,
    *,
    lease_s: int,
    max_failures: int,
    max_active: int,
) -> sa.Row:
    """Claim the job for `worker` with a lease; returns the attempt row. Idempotent for the
    holder (its running attempt comes back); ClaimRefused otherwise."""
    if (reason := ineligibility(worker)) is not None:
        raise ClaimRefused(403, reason)
    assert worker is not None
    # one claim at a time per worker, so two concurrent claims cannot both pass the cap
    conn.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtext(worker.address))))
    expire_leases(conn, job_id)
    live = _running(conn, job_id)
    if live is not None and live.worker_address == worker.address and live.state == "running":
        return live
    j, a = jobs.c, job_attempts.c
    active = conn.execute(
        sa.select(sa.func.count()).where(a.worker_address == worker.address, a.state == "running")
    ).scalar_one()
    if active >= max_active:
        raise ClaimRefused(409, f"already holding {active} claims (at most {max_active})")
    won = conn.execute(
        jobs.update()
        .where(
            j.job_id == job_id,
            claimable(worker, max_failures),
        )
        .values(status="assigned")
        .returning(j.created_tx)
    ).first()
    if won is None:
        _explain_lost_claim(conn, worker, job_id, max_failures)
    attempt = conn.execute(
        job_attempts.insert()
        .values(
            job_id=job_id,
            created_tx=won.created_tx,
            attempt=sa.select(sa.func.count() + 1).where(a.job_id == job_id).scalar_subquery(),
            worker_address=worker.address,
            state="running",
            claimed_at=sa.func.now(),
            lease_expires_at=sa.func.now() + timedelta(seconds=lease_s),
            progress=0.0,
        )
        .returning(job_attempts)
    ).one()
    notify_changes(conn, source="api", jobs=[job_id])
    return attempt


def _explain_lost_claim(
    conn: sa.Connection, worker: WorkerFacts, job_id: int, max_failures: int
) -> None:
    """Raise the precise reason a claim's UPDATE matched nothing."""
    row = conn.execute(
        sa.select(jobs.c.status, jobs.c.deadline, jobs.c.deadline <= sa.func.now()).where(
            jobs.c.job_id == job_id
        )
    ).first()
    if row is None:
        raise ClaimRefused(404, f"job {job_id} not found")
    if row.status != "open":
        raise ClaimRefused(409, f"job {job_id} is {row.status}, not open")
    if row[2]:
        raise ClaimRefused(409, f"job {job_id} passed its deadline ({row.deadline.isoformat()})")
    if reason := _refusal(conn, worker, job_id, max_failures):
        raise ClaimRefused(403, reason)
    raise ClaimRefused(409, f"job {job_id} is not claimable now")


def held_attempt(conn: sa.Connection, worker: str, job_id: int, *, lock: bool = True) -> sa.Row:
    """The caller's live attempt on the job (locked for the transaction), else ClaimRefused:
    403 when another worker holds it or it was never the caller's, 409 when the caller's
    lease ran out."""
    expire_leases(conn, job_id)
    a = job_attempts.c
    query = sa.select(job_attempts).where(a.job_id == job_id).order_by(a.id.desc()).limit(1)
    mine = conn.execute(
        query.where(a.worker_address == worker).with_for_update() if lock else query
    ).first()
    if conn.execute(sa.select(jobs.c.job_id).where(jobs.c.job_id == job_id)).first() is None:
        raise ClaimRefused(404, f"job {job_id} not found")
    if mine is None:
        raise ClaimRefused(403, f"job {job_id} is not claimed by {worker}")
    if mine.state == "expired":
        raise ClaimRefused(409, f"the lease on job {job_id} expired; claim it again if it is open")
    if mine.state == "failed":
        raise ClaimRefused(409, f"attempt {mine.attempt} on job {job_id} was reported failed")
    return mine


def heartbeat(
    conn: sa.Connection,
    worker: str,
    job_id: int,
    progress: float,
    message: str | None,
    lease_s: int,
) -> sa.Row:
    attempt = held_attempt(conn, worker, job_id)
    if attempt.state != "running":
        raise ClaimRefused(409, f"job {job_id} is already {attempt.state}")
    updated = conn.execute(
        job_attempts.update()
        .where(job_attempts.c.id == attempt.id)
        .values(
            heartbeat_at=sa.func.now(),
            lease_expires_at=sa.func.now() + timedelta(seconds=lease_s),
            progress=max(progress, attempt.progress or 0.0),
            status_message=message,
        )
        .returning(job_attempts)
    ).one()
    notify_changes(conn, source="api", jobs=[job_id])
    return updated


def complete(
    conn: sa.Connection, worker: str, job_id: int, result_cid: str, result: dict[str, Any]
) -> sa.Row:
    """Deliver the result. A retry with the same CID returns the same attempt; another CID
    for a completed attempt is a conflict."""
    attempt = held_attempt(conn, worker, job_id)
    if attempt.state == "completed":
        if attempt.result_cid != result_cid:
            raise ClaimRefused(
                409, f"job {job_id} was already completed with result {attempt.result_cid}"
            )
        return attempt
    done = conn.execute(
        job_attempts.update()
        .where(job_attempts.c.id == attempt.id)
        .values(
            state="completed",
            ended_at=sa.func.now(),
            progress=1.0,
            result_cid=result_cid,
            result=result,
        )
        .returning(job_attempts)
    ).one()
    conn.execute(
        jobs.update()
        .where(jobs.c.job_id == job_id, jobs.c.status == "assigned")
        .values(status="completed")
    )
    notify_changes(conn, source="api", jobs=[job_id])
    return done


def fail(
    conn: sa.Connection, worker: str, job_id: int, reason: str, max_failures: int
) -> tuple[sa.Row, int]:
    """Record a failed attempt and reopen the job; returns it with the worker's failure count."""
    attempt = held_attempt(conn, worker, job_id)
    if attempt.state != "running":
        raise ClaimRefused(409, f"job {job_id} is already {attempt.state}")
    failed = conn.execute(
        job_attempts.update()
        .where(job_attempts.c.id == attempt.id)
        .values(state="failed", ended_at=sa.func.now(), failure_reason=reason)
        .returning(job_attempts)
    ).one()
    conn.execute(
        jobs.update()
        .where(jobs.c.job_id == job_id, jobs.c.status == "assigned")
        .values(status="open")
    )
    a = job_attempts.c
    failures = conn.execute(
        sa.select(sa.func.count()).where(
            a.job_id == job_id, a.worker_address == worker, a.state == "failed"
        )
    ).scalar_one()
    notify_changes(conn, source="api", jobs=[job_id])
    return failed, failures
