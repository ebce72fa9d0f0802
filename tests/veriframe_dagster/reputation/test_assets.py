"""Each reputation table equals what the test computes from the contract's views and the
history's ledger, after materializing the days one by one."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pytest
import sqlalchemy as sa

from tests.veriframe_dagster.reputation import expected
from tests.veriframe_dagster.reputation.expected import Chain
from tests.veriframe_dagster.reputation.history import Ledger
from tests.veriframe_dagster.reputation.runs import (
    DAILY_KEYS,
    SCORECARD_KEY,
    run_checks,
    table_rows,
)
from veriframe_core.settings import Settings


def _compare(actual: dict, wanted: dict) -> dict:
    """The fields that differ (floats compared approximately)."""
    differ = {}
    for name, value in wanted.items():
        got = actual[name]
        if isinstance(value, float) and got is not None:
            if got != pytest.approx(value, rel=1e-9, abs=1e-6):
                differ[name] = (got, value)
        elif isinstance(value, int) and not isinstance(value, bool) and got is not None:
            if int(got) != value:
                differ[name] = (got, value)
        elif got != value:
            differ[name] = (got, value)
    return differ


def test_worker_days_equal_the_contract_views_at_each_days_end(
    materialized: Ledger, views: Chain, engine: sa.Engine
) -> None:
    wanted = expected.worker_days(views, materialized)
    rows = {
        (r["day"], r["worker_address"]): r for r in table_rows(engine, "worker_reputation_daily")
    }
    assert set(rows) == set(wanted)
    differences = {k: d for k, row in rows.items() if (d := _compare(row, wanted[k]))}
    assert differences == {}
    # the history covers what it claims to
    reasons = {r for row in rows.values() for r in row["change_reasons"]}
    assert reasons == {"rating", "slash", "verified", "unverified"}
    assert {row["eligible_at_default"] for row in rows.values()} == {True, False}
    quiet = [d for d in materialized.days if d not in materialized.day_end_block]
    assert quiet and all(rows[d, w]["changes"] == 0 for d, w in rows if d in quiet)


def test_network_days_equal_the_ledger(
    materialized: Ledger, views: Chain, engine: sa.Engine
) -> None:
    wanted = expected.network_days(views, materialized)
    rows = {r["day"]: r for r in table_rows(engine, "network_daily")}
    assert set(rows) == set(wanted)
    differences = {k: d for k, row in rows.items() if (d := _compare(row, wanted[k]))}
    assert differences == {}
    assert sum(r["jobs_expired"] for r in rows.values()) == 1
    assert sum(r["rewards_paid"] for r in rows.values()) > 2**79  # exact beyond 64 bits


def test_scorecard_equals_the_contract_and_the_attempts(
    materialized: Ledger, views: Chain, engine: sa.Engine, settings: Settings
) -> None:
    wanted = expected.scorecard(views, materialized, settings.api_max_failures_per_job)
    rows = {r["worker_address"]: r for r in table_rows(engine, "worker_scorecard")}
    assert set(rows) == set(wanted)
    differences = {k: d for k, row in rows.items() if (d := _compare(row, wanted[k]))}
    assert differences == {}
    assert {r["blocked_jobs"] for r in rows.values()} == {0, 1}
    assert any(r["trend_7d"] != r["trend_30d"] for r in rows.values())


def test_every_check_passes_on_the_computed_tables(
    materialized: Ledger, defs: dg.Definitions, instance: dg.DagsterInstance, engine: sa.Engine
) -> None:
    for day in materialized.days:
        assert run_checks(defs, instance, engine, list(DAILY_KEYS), day.isoformat()) == set()
    assert run_checks(defs, instance, engine, [SCORECARD_KEY]) == set()


def test_a_lease_lapsing_before_midnight_counts_on_its_day_and_a_release_not_at_all(
    materialized: Ledger, engine: sa.Engine
) -> None:
    expired = [a for a in materialized.attempts if a["state"] == "expired"]
    (late,) = [a for a in expired if a["ended_at"].date() != a["lease_expires_at"].date()]
    (release,) = [a for a in expired if a["failure_reason"]]
    worker, lapsed = late["worker_address"], late["lease_expires_at"].date()
    assert release["worker_address"] == worker
    with engine.connect() as conn:
        by_day = dict(
            conn.execute(
                sa.text(
                    "SELECT day, jobs_expired FROM analytics.worker_reputation_daily "
                    "WHERE worker_address = :w"
                ),
                {"w": worker},
            ).all()
        )
        card = conn.execute(
            sa.text(
                "SELECT attempts, lease_expiries FROM analytics.worker_scorecard "
                "WHERE worker_address = :w"
            ),
            {"w": worker},
        ).one()
    assert by_day[lapsed] == 1
    assert by_day[lapsed + dt.timedelta(days=1)] == 0  # swept then, and the release's day
    assert release["ended_at"].date() == lapsed + dt.timedelta(days=1)
    assert card.lease_expiries == 1 and card.attempts == 3


def test_the_days_verdicts_add_up_to_the_network_and_the_scorecard(
    materialized: Ledger, engine: sa.Engine
) -> None:
    worker_days = table_rows(engine, "worker_reputation_daily")
    network = {r["day"]: r for r in table_rows(engine, "network_daily")}
    card = {r["worker_address"]: r for r in table_rows(engine, "worker_scorecard")}
    for name in expected.VERDICT_COUNTS:
        for day, row in network.items():
            assert row[name] == sum(r[name] for r in worker_days if r["day"] == day)
        for worker, row in card.items():
            assert row[name] == sum(r[name] for r in worker_days if r["worker_address"] == worker)
    # the history covers what it claims to: a day with a rejected delivery, and the day a
    # result of D5 was rejected on chain (its verdict's, not its result's) with its sanctions
    d2, d5, d9 = (materialized.days[n] for n in (2, 5, 9))
    assert network[d2]["deliveries_rejected"] == network[d2]["deliveries_verified"] == 1
    assert network[d5]["results_rejected_on_chain"] == 0
    assert network[d9]["results_rejected_on_chain"] == 1 and network[d9]["sanctions"] == 2
