"""The JobRegistry's rules on reputation and eligibility, written once (docs/contract.md).

devchain's contract applies them, chain ingestion replays them onto the warehouse rows, and the
API applies the eligibility rule before it lets a worker claim, so a worker the API lets claim
a job can also submit its result on chain.
"""

from __future__ import annotations

START_REPUTATION = 500
"""A newly registered worker's reputation."""
VERIFIED_REPUTATION = 600
"""The least reputation a verified worker has."""
DEFAULT_MIN_REPUTATION = 400
"""A job's minimum reputation when it was created without one (a stored 0 reads as this)."""
MAX_REPUTATION = 1000
MIN_REPUTATION = 1
"""Ratings and slashes never take reputation below this."""

MAX_QUALITY_SCORE = 100
PASSING_SCORE = 60
"""A rating at or above this counts as a completed job, below `FAILING_SCORE` as a failed one."""
FAILING_SCORE = 40
RATING_BONUSES = ((90, 20), (75, 10), (PASSING_SCORE, 5))
"""(least score, reputation gained), best band first."""
FAILED_RATING_PENALTY = 15

FAILURE_RATE_MIN_JOBS = 5
"""The failure-rate rule applies once a worker has more rated jobs than this ..."""
MAX_FAILURE_RATE_PERCENT = 30
"""... and then refuses a worker whose failed share (integer percent) is above this."""


def min_reputation_of(stored: int) -> int:
    """A job's minimum reputation as the contract's view answers it."""
    return stored or DEFAULT_MIN_REPUTATION


def reputation_after_verification(current: int, verified: bool) -> int:
    """`verify_worker`: verifying lifts to at least 600; unverifying drops 200 (to 200 at most
    once reputation is 400 or below)."""
    if verified:
        return max(current, VERIFIED_REPUTATION)
    return current - 200 if current > 400 else 200


def rating_outcome(current: int, quality_score: int) -> tuple[int, str] | None:
    """`update_worker_reputation`: the new reputation and the counter a rating adds one to
    (`jobs_completed` or `jobs_failed`); None for the neutral band (40-59: no change, no event)."""
    for least, bonus in RATING_BONUSES:
        if quality_score >= least:
            return min(current + bonus, MAX_REPUTATION), "jobs_completed"
    if quality_score < FAILING_SCORE:
        return max(current - FAILED_RATING_PENALTY, MIN_REPUTATION), "jobs_failed"
    return None


def counts_as_completed(quality_score: int) -> bool:
    """Whether a rating adds to `jobs_completed` (else, if it changed anything, `jobs_failed`)."""
    return quality_score >= PASSING_SCORE


def reputation_after_slash(current: int, amount: int) -> int:
    """`slash_worker_reputation`: reputation minus the amount, never below 1."""
    return max(current - amount, MIN_REPUTATION)


def failure_rate_too_high(jobs_completed: int, jobs_failed: int) -> bool:
    """The failure-rate half of `is_worker_eligible`."""
    total = jobs_completed + jobs_failed
    return total > FAILURE_RATE_MIN_JOBS and jobs_failed * 100 // total > MAX_FAILURE_RATE_PERCENT


def is_worker_eligible(
    *,
    registered: bool,
    verified: bool,
    reputation: int,
    jobs_completed: int,
    jobs_failed: int,
    min_reputation: int,
) -> bool:
    """The contract's `is_worker_eligible(worker, job)` over the worker's and job's state."""
    return (
        registered
        and verified
        and reputation >= min_reputation_of(min_reputation)
        and not failure_rate_too_high(jobs_completed, jobs_failed)
    )
