"""The reputation tables as the test computes them, independently of the platform's SQL:
reputation, verification, the contract's counters and eligibility from the contract's own
views at each day's last block (`get_worker_status`, `is_worker_eligible` at a block); jobs,
rewards, times, attempts, verdicts and sanctions from the history's ledger."""

from __future__ import annotations

import bisect
import datetime as dt
import statistics
from collections import Counter, defaultdict
from functools import cache
from typing import Any

import numpy as np

from tests.support.chain import Driver
from tests.veriframe_dagster.reputation.history import Ledger
from veriframe_core.warehouse.tables import RELEASED_PREFIX


class Chain:
    """The contract's views at past blocks, and which block ended which instant."""

    def __init__(self, driver: Driver, ledger: Ledger):
        self.d = driver
        self.ledger = ledger
        self.head = driver.head()
        self.times = [self._time(n) for n in range(self.head + 1)]

    def _time(self, number: int) -> dt.datetime:
        block = self.d.rpc("starknet_getBlockWithTxHashes", {"block_id": {"block_number": number}})
        return dt.datetime.fromtimestamp(block["timestamp"], dt.UTC)

    def block_at(self, moment: dt.datetime, inclusive: bool = False) -> int:
        """The last block before `moment` (at or before, with `inclusive`)."""
        find = bisect.bisect_right if inclusive else bisect.bisect_left
        return find(self.times, moment) - 1

    def day_end(self, day: dt.date) -> int:
        return self.block_at(dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), dt.UTC))

    @cache  # noqa: B019 - one Chain per test session
    def status(self, worker: str, block: int) -> tuple[bool, int, int, int]:
        """(verified, reputation, jobs_completed, jobs_failed) at the end of `block`."""
        verified, reputation, completed, failed = self.d.view(
            self.d.registry, "get_worker_status", int(worker, 16), block_number=block
        )
        return bool(verified), reputation, completed, failed

    @cache  # noqa: B019
    def eligible(self, worker: str, block: int) -> bool:
        job = self.ledger.probe_job
        return bool(
            self.d.view(
                self.d.registry, "is_worker_eligible", int(worker, 16), job, block_number=block
            )
        )


def utc_day(moment: dt.datetime) -> dt.date:
    return moment.astimezone(dt.UTC).date()


def lease_expired(attempt: dict[str, Any]) -> bool:
    """An attempt whose lease lapsed; a voluntary release is not one."""
    reason = attempt.get("failure_reason") or ""
    return attempt["state"] == "expired" and not reason.startswith(RELEASED_PREFIX)


def failure_rate(completed: int, failed: int) -> int | None:
    rated = completed + failed
    return failed * 100 // rated if rated else None


def verdicts(ledger: Ledger) -> dict[tuple[dt.date, str], Counter]:
    """What verification found, per UTC day of the verdict (of the sanction) and worker."""
    found: dict[tuple[dt.date, str], Counter] = defaultdict(Counter)
    for a in ledger.attempts:
        if a["state"] in ("verified", "rejected"):
            found[utc_day(a["decided_at"]), a["worker_address"]][f"deliveries_{a['state']}"] += 1
    for v in ledger.rejected_on_chain:
        found[utc_day(v.decided_at), v.worker]["results_rejected_on_chain"] += 1
    for s in ledger.sanctions:
        if s.outcome == "sent":
            found[utc_day(s.at), s.worker]["sanctions"] += 1
    return found


VERDICT_COUNTS = (
    "deliveries_verified",
    "deliveries_rejected",
    "results_rejected_on_chain",
    "sanctions",
)


def worker_days(chain: Chain, ledger: Ledger) -> dict[tuple[dt.date, str], dict[str, Any]]:
    """Every registered worker on every day of the history."""
    deltas: dict[tuple[dt.date, str], Counter] = defaultdict(Counter)
    reasons: dict[tuple[dt.date, str], set[str]] = defaultdict(set)
    for change in ledger.changes:
        delta = (
            chain.status(change.worker, change.block)[1]
            - chain.status(change.worker, change.block - 1)[1]
        )
        kind = "verification" if change.reason in ("verified", "unverified") else change.reason
        deltas[change.day, change.worker][kind] += delta
        deltas[change.day, change.worker]["changes"] += 1
        reasons[change.day, change.worker].add(change.reason)
    paid: dict[tuple[dt.date, str], list[int]] = defaultdict(list)
    for job in ledger.jobs.values():
        if job.finalized_at is not None:
            paid[utc_day(job.finalized_at), job.worker].append(job.reward)
    ended: dict[tuple[dt.date, str], Counter] = defaultdict(Counter)
    for a in ledger.attempts:
        if lease_expired(a):  # on the lease's day, whenever the sweep noticed
            ended[utc_day(a["lease_expires_at"]), a["worker_address"]]["expired"] += 1
        elif a["state"] == "failed":
            ended[utc_day(a["ended_at"]), a["worker_address"]]["failed"] += 1
    found = verdicts(ledger)
    rows = {}
    for day in ledger.days:
        end = chain.day_end(day)
        day_start = dt.datetime.combine(day, dt.time(), dt.UTC)
        for worker, registered_at in ledger.registered.items():
            if registered_at >= day_start + dt.timedelta(days=1):
                continue
            verified, reputation, completed, failed = chain.status(worker, end)
            if registered_at >= day_start:
                before = (False, 500, 0, 0)
            else:
                before = chain.status(worker, chain.day_end(day - dt.timedelta(days=1)))
            key = (day, worker)
            rows[key] = {
                "reputation": reputation,
                "reputation_change": reputation - before[1],
                "rating_change": deltas[key]["rating"],
                "slash_change": deltas[key]["slash"],
                "verification_change": deltas[key]["verification"],
                "changes": deltas[key]["changes"],
                "change_reasons": sorted(reasons[key]),
                "jobs_completed": completed - before[2],
                "jobs_failed": failed - before[3],
                "jobs_expired": ended[key]["expired"],
                "attempts_failed": ended[key]["failed"],
                "jobs_paid": len(paid[key]),
                "earnings": sum(paid[key]),
                "jobs_completed_total": completed,
                "jobs_failed_total": failed,
                "failure_rate_pct": failure_rate(completed, failed),
                "verified": verified,
                "eligible_at_default": chain.eligible(worker, end),
                **{name: found[key][name] for name in VERDICT_COUNTS},
            }
    return rows


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def network_days(chain: Chain, ledger: Ledger) -> dict[dt.date, dict[str, Any]]:
    jobs = ledger.jobs.values()
    first_claims: dict[int, dt.datetime] = {}
    for a in ledger.attempts:
        first_claims[a["job_id"]] = min(
            first_claims.get(a["job_id"], a["claimed_at"]), a["claimed_at"]
        )
    chain_now = chain.times[-1]
    found = verdicts(ledger)
    rows = {}
    for day in ledger.days:
        end = chain.day_end(day)
        end_time = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), dt.UTC)

        def on_day(moment: dt.datetime | None, day: dt.date = day) -> bool:
            return moment is not None and utc_day(moment) == day

        created = [j for j in jobs if on_day(j.created_at)]
        submitted = [j for j in jobs if on_day(j.submitted_at)]
        finalized = [j for j in jobs if on_day(j.finalized_at)]
        claimed = {job: at for job, at in first_claims.items() if on_day(at)}
        active = {a["worker_address"] for a in ledger.attempts if on_day(a["claimed_at"])}
        active |= {j.worker for j in submitted}
        registered = [w for w, at in ledger.registered.items() if at < end_time]
        decided = [
            a
            for a in ledger.attempts
            if a["state"] in ("verified", "rejected") and on_day(a["decided_at"])
        ]
        rows[day] = {
            "jobs_created": len(created),
            "jobs_claimed": len(claimed),
            "jobs_completed": len(submitted),
            "jobs_finalized": len(finalized),
            "jobs_expired": sum(
                1
                for j in jobs
                if j.worker is None and j.deadline <= chain_now and on_day(j.deadline)
            ),
            "rewards_escrowed": sum(j.reward for j in created),
            "rewards_paid": sum(j.reward for j in finalized),
            "active_workers": len(active),
            "verified_workers": sum(chain.status(w, end)[0] for w in registered),
            "registered_workers": len(registered),
            "median_seconds_to_claim": _median(
                [(at - ledger.jobs[job].created_at).total_seconds() for job, at in claimed.items()]
            ),
            "median_seconds_to_result": _median(
                [(j.submitted_at - j.created_at).total_seconds() for j in submitted]
            ),
            "median_seconds_to_payment": _median(
                [(j.finalized_at - j.created_at).total_seconds() for j in finalized]
            ),
            **{
                name: sum(n[name] for (d, _), n in found.items() if d == day)
                for name in VERDICT_COUNTS
            },
            "median_seconds_to_verdict": _median(
                [(a["decided_at"] - a["ended_at"]).total_seconds() for a in decided]
            ),
        }
    return rows


def _percentile(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


def scorecard(chain: Chain, ledger: Ledger, max_failures: int) -> dict[str, dict[str, Any]]:
    """`max_failures`: the API's blocking threshold (`api_max_failures_per_job`)."""
    as_of = chain.times[-1]
    rows = {}
    for worker in ledger.registered:
        verified, reputation, completed, failed = chain.status(worker, chain.head)
        back = {}
        for days in (7, 30):
            block = chain.block_at(as_of - dt.timedelta(days=days), inclusive=True)
            past = chain.status(worker, block)[1] if block >= 0 else 0
            back[days] = past or 500  # not registered then: counted from its start
        mine = [a for a in ledger.attempts if a["worker_address"] == worker]
        delivered = [a for a in mine if a["state"] in ("completed", "verifying", "verified")]
        states = Counter(a["state"] for a in mine)
        expiries = sum(1 for a in mine if lease_expired(a))
        finished = len(delivered) + states["rejected"] + states["failed"] + expiries
        renders = [a["result"]["render_time_s"] for a in delivered]
        claims = [
            (a["claimed_at"] - ledger.jobs[a["job_id"]].created_at).total_seconds() for a in mine
        ]
        failures = Counter(a["job_id"] for a in mine if a["state"] == "failed")
        pixels = [
            a["result"]["width"] * a["result"]["height"]
            for a in delivered
            if "width" in a["result"]
        ]
        paid = [j.reward for j in ledger.jobs.values() if j.finalized_at and j.worker == worker]
        rows[worker] = {
            "verified": verified,
            "reputation": reputation,
            "reputation_7d_ago": back[7],
            "trend_7d": reputation - back[7],
            "reputation_30d_ago": back[30],
            "trend_30d": reputation - back[30],
            "jobs_completed": completed,
            "jobs_failed": failed,
            "failure_rate_pct": failure_rate(completed, failed),
            "eligible_at_default": chain.eligible(worker, chain.head),
            "attempts": len(mine),
            "attempts_completed": len(delivered),
            "attempts_failed": states["failed"],
            "lease_expiries": expiries,
            "success_rate": len(delivered) / finished if finished else None,
            "blocked_jobs": sum(1 for n in failures.values() if n >= max_failures),
            "median_render_seconds": _percentile(renders, 50),
            "p95_render_seconds": _percentile(renders, 95),
            "median_seconds_to_claim": _percentile(claims, 50),
            "p95_seconds_to_claim": _percentile(claims, 95),
            "largest_frame_pixels": max(pixels) if pixels else None,
            "devices": sorted({a["result"]["device"] for a in delivered}),
            "jobs_paid": len(paid),
            "earnings": sum(paid),
            "deliveries_verified": states["verified"],
            "deliveries_rejected": states["rejected"],
            "results_rejected_on_chain": sum(v.worker == worker for v in ledger.rejected_on_chain),
            "sanctions": sum(s.worker == worker and s.outcome == "sent" for s in ledger.sanctions),
            "as_of_time": as_of,
        }

    def standing(worker: str) -> tuple:
        r = rows[worker]
        rate = r["failure_rate_pct"]
        success = r["success_rate"]
        return (
            -r["reputation"],
            rate is None,
            rate or 0,
            success is None,
            -(success or 0),
            -r["earnings"],
        )

    for worker, row in rows.items():
        row["rank"] = 1 + sum(standing(o) < standing(worker) for o in rows)
    return rows
