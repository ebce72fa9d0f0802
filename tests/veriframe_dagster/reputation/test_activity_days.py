"""The activity_days sensor marks the days a change touched: a chain tick's own blocks (not
every day up to the chain's head), the deadlines its expiry sweep passed, and the days of
attempts that ended, verdicts and sanctions, however late after midnight the sensor sees
them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator

import dagster as dg
import pytest
import sqlalchemy as sa

from tests.veriframe_dagster.reputation.history import (
    CID,
    SANCTION,
    VERIFICATION,
    Ledger,
    record_attempts,
)
from tests.veriframe_dagster.reputation.runs import on_chain_time
from veriframe_core.settings import Settings
from veriframe_dagster.defs.reputation.partitions import daily_partitions
from veriframe_dagster.defs.reputation.sensor import DaysCursor, evaluate, span_of_tick


def days_of(span: tuple[dt.datetime, dt.datetime]) -> set[dt.date]:
    first, last = (moment.astimezone(dt.UTC).date() for moment in span)
    return {first + dt.timedelta(days=n) for n in range((last - first).days + 1)}


def test_a_chain_tick_marks_from_the_chain_time_before_it_to_its_own_last_block(
    materialized: Ledger, engine: sa.Engine
) -> None:
    d0, d1 = materialized.days[:2]
    tick = {
        "first_block": materialized.day_end_block[d0] + 1,
        "last_block": materialized.day_end_block[d1],
    }
    with engine.connect() as conn:
        span = span_of_tick(conn, tick)
    # from D0 (deadlines passed since the previous tick are swept by this one) to D1 only,
    # not to the chain's head days later
    assert span is not None and days_of(span) == {d0, d1}


def test_a_reorg_marks_from_the_fork_blocks_day(materialized: Ledger, engine: sa.Engine) -> None:
    d2, d9 = materialized.days[2], materialized.days[9]
    tick = {
        "reorg_details": [{"fork_block": materialized.day_end_block[d2]}],
        "first_block": materialized.day_end_block[d2] + 1,
        "last_block": materialized.day_end_block[d9],
    }
    with engine.connect() as conn:
        span = span_of_tick(conn, tick)
    assert span is not None and min(days_of(span)) == d2 and max(days_of(span)) == d9


def test_a_reorg_to_a_shorter_branch_marks_the_rolled_back_days_too(
    materialized: Ledger, engine: sa.Engine
) -> None:
    d2, d5, d9 = materialized.days[2], materialized.days[5], materialized.days[9]
    old_head = dt.datetime.combine(d9, dt.time(12), dt.UTC)
    tick = {  # the new branch ends on D5; the blocks it replaced went on to D9
        "reorg_details": [
            {
                "fork_block": materialized.day_end_block[d2],
                "rolled_back_until": old_head.isoformat(),
            }
        ],
        "first_block": materialized.day_end_block[d2] + 1,
        "last_block": materialized.day_end_block[d5],
    }
    with engine.connect() as conn:
        span = span_of_tick(conn, tick)
    assert span is not None and min(days_of(span)) == d2 and max(days_of(span)) == d9


@pytest.fixture
def late_attempt(materialized: Ledger, engine: sa.Engine) -> Iterator[dict]:
    """An attempt of D3 ending 2 s before midnight, recorded by the test (and removed)."""
    job = next(iter(materialized.jobs.values()))
    midnight = dt.datetime.combine(materialized.days[4], dt.time(), dt.UTC)
    attempt = {
        "job_id": job.job_id,
        "created_tx": job.created_tx,
        "attempt": 99,
        "worker_address": job.creator,
        "state": "failed",
        "claimed_at": midnight - dt.timedelta(seconds=60),
        "lease_expires_at": midnight + dt.timedelta(seconds=540),
        "ended_at": midnight - dt.timedelta(seconds=2),
        "result": None,
    }
    yield attempt
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM job_attempts WHERE attempt = 99"))


def test_an_attempt_ending_before_midnight_and_seen_after_it_marks_its_own_day(
    late_attempt: dict,
    materialized: Ledger,
    engine: sa.Engine,
    instance: dg.DagsterInstance,
    settings: Settings,
) -> None:
    partitions = daily_partitions(settings.reputation_first_day)
    with on_chain_time(engine):
        baseline, cursor = evaluate(instance, engine, partitions, DaysCursor())
        assert baseline == {}  # the first tick takes the marks; history is a backfill's
        record_attempts(engine, [late_attempt])
        days, after = evaluate(instance, engine, partitions, cursor)
        again, _ = evaluate(instance, engine, partitions, after)
    assert days == {materialized.days[3].isoformat(): ["attempts"]}
    assert after.attempt_id > cursor.attempt_id
    assert again == {}


@pytest.fixture
def new_verdict(materialized: Ledger, engine: sa.Engine) -> Iterator[Callable[[], None]]:
    """Records (when called) a result rejected on chain 100 s after the newest verdict, and
    its sanction 50 s after the newest sanction. Removed after the test."""
    job = next(iter(materialized.jobs.values()))
    newest = materialized.rejected_on_chain[-1].decided_at
    values = {"job_id": job.job_id, "worker": job.creator, "cid": CID}

    def record() -> None:
        with engine.begin() as conn:
            found = conn.execute(
                VERIFICATION,
                {
                    **values,
                    "attempt_id": None,
                    "attempt": None,
                    "source": "chain",
                    "state": "rejected",
                    "opened_at": newest,
                    "decided_at": newest + dt.timedelta(seconds=100),
                },
            ).scalar_one()
            at = max(s.at for s in materialized.sanctions) + dt.timedelta(seconds=50)
            conn.execute(
                SANCTION,
                {
                    **values,
                    "verification": found,
                    "action": "verify_worker",
                    "outcome": "sent",
                    "at": at,
                },
            )

    yield record
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM sanctions WHERE worker_address = :worker"), values)
        conn.execute(sa.text("DELETE FROM verifications WHERE worker_address = :worker"), values)


def test_new_verdicts_and_sanctions_mark_their_days(
    new_verdict: Callable[[], None],
    materialized: Ledger,
    engine: sa.Engine,
    instance: dg.DagsterInstance,
    settings: Settings,
) -> None:
    partitions = daily_partitions(settings.reputation_first_day)
    with on_chain_time(engine):
        _, cursor = evaluate(instance, engine, partitions, DaysCursor())
        new_verdict()
        days, after = evaluate(instance, engine, partitions, cursor)
        again, _ = evaluate(instance, engine, partitions, after)
    assert days == {materialized.days[9].isoformat(): ["sanctions", "verdicts"]}
    assert after.decided > cursor.decided and after.sanctioned > cursor.sanctioned
    assert again == {}
