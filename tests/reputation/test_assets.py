"""Each reputation table equals what the test computes from the contract's views and the
history's ledger, after materializing the days one by one."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pytest
import sqlalchemy as sa

from tests.reputation import expected
from tests.reputation.expected import Chain
from tests.reputation.history import Ledger
from tests.reputation.runs import table_rows


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
    materialized: Ledger, views: Chain, engine: sa.Engine
) -> None:
    wanted = expected.scorecard(views, materialized)
    rows = {r["worker_address"]: r for r in table_rows(engine, "worker_scorecard")}
    assert set(rows) == set(wanted)
    differences = {k: d for k, row in rows.items() if (d := _compare(row, wanted[k]))}
    assert differences == {}
    assert {r["blocked_jobs"] for r in rows.values()} == {0, 1}
    assert any(r["trend_7d"] != r["trend_30d"] for r in rows.values())


def test_every_check_passes_on_the_computed_tables(
    materialized: Ledger, defs: dg.Definitions, instance: dg.DagsterInstance
) -> None:
    evaluations = [
        e
        for key in defs.resolve_asset_graph().asset_check_keys
        if key.asset_key.path[0] == "analytics"
        for e in [instance.event_log_storage.get_latest_asset_check_execution_by_key([key])]
    ]
    assert evaluations
    for latest in evaluations:
        for key, record in latest.items():
            assert record is not None and record.status.value == "SUCCEEDED", key
            assert record.event.asset_check_evaluation.passed, key


def test_days_cover_the_chain_days(materialized: Ledger) -> None:
    assert materialized.days[0] + dt.timedelta(days=9) == materialized.days[-1]
