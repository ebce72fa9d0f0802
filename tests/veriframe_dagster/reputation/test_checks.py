"""Every reputation check fails on a corrupted row (and the tables are recomputed after).

The checks run without materializing anything, as a checks-only run for one day (the daily
tables) or for the scorecard.
"""

from __future__ import annotations

from collections.abc import Iterator

import dagster as dg
import pytest
import sqlalchemy as sa

from tests.veriframe_dagster.reputation.history import Ledger
from tests.veriframe_dagster.reputation.runs import (
    DAILY_KEYS,
    SCORECARD_KEY,
    run_checks,
    table_rows,
)
from veriframe_dagster.defs.reputation.sql.network_days import refresh_network_days
from veriframe_dagster.defs.reputation.sql.scorecard import refresh_scorecard
from veriframe_dagster.defs.reputation.sql.worker_days import refresh_worker_days

ONE_WORKER = "(SELECT min(worker_address) FROM analytics.{table} WHERE {where})"
D0 = "(SELECT min(day) FROM analytics.network_daily)"


def one_row(table: str, where: str = "true") -> str:
    """SQL: the row of `table` of the first day (daily) with the least address matching."""
    day = f"day = {D0} AND " if table != "worker_scorecard" else ""
    return f"{day}worker_address = {ONE_WORKER.format(table=table, where=f'{day}{where}')}"


CASES = {
    "worker_reputation_daily/reputation_in_range": (
        f"UPDATE analytics.worker_reputation_daily SET reputation = 1001 "
        f"WHERE {one_row('worker_reputation_daily')}"
    ),
    "worker_reputation_daily/sums_match_chain_events": (
        "UPDATE analytics.worker_reputation_daily SET earnings = earnings + 1 "
        f"WHERE {one_row('worker_reputation_daily', 'jobs_paid > 0')}"
    ),
    "worker_reputation_daily/one_row_per_worker_and_day": (
        f"DELETE FROM analytics.worker_reputation_daily WHERE {one_row('worker_reputation_daily')}"
    ),
    "worker_reputation_daily/no_future_days": (
        "UPDATE analytics.worker_reputation_daily SET day = day + 30 "
        f"WHERE {one_row('worker_reputation_daily')}"
    ),
    "worker_reputation_daily/fresh": (
        f"UPDATE analytics.worker_reputation_daily SET as_of_event_id = 0 "
        f"WHERE {one_row('worker_reputation_daily')}"
    ),
    "worker_reputation_daily/verdicts_match_verifications": (
        "UPDATE analytics.worker_reputation_daily SET sanctions = sanctions + 1 "
        f"WHERE {one_row('worker_reputation_daily')}"
    ),
    "network_daily/verdicts_match_verifications": (
        "UPDATE analytics.network_daily SET deliveries_verified = deliveries_verified + 1 "
        f"WHERE day = {D0}"
    ),
    "network_daily/sums_match_chain_events": (
        f"UPDATE analytics.network_daily SET rewards_paid = rewards_paid + 1 WHERE day = {D0}"
    ),
    "network_daily/one_row_per_day": f"DELETE FROM analytics.network_daily WHERE day = {D0}",
    "network_daily/no_future_days": (
        f"UPDATE analytics.network_daily SET day = day + 30 WHERE day = {D0}"
    ),
    "network_daily/fresh": (
        f"UPDATE analytics.network_daily SET as_of_event_id = 0 WHERE day = {D0}"
    ),
    "worker_scorecard/reputation_in_range": (
        f"UPDATE analytics.worker_scorecard SET reputation = 0 WHERE {one_row('worker_scorecard')}"
    ),
    "worker_scorecard/sums_match_chain_events": (
        "UPDATE analytics.worker_scorecard SET earnings = earnings + 1 "
        f"WHERE {one_row('worker_scorecard')}"
    ),
    "worker_scorecard/one_row_per_worker": (
        f"DELETE FROM analytics.worker_scorecard WHERE {one_row('worker_scorecard')}"
    ),
    "worker_scorecard/fresh": (
        "UPDATE analytics.worker_scorecard SET as_of_event_id = 0 "
        f"WHERE {one_row('worker_scorecard')}"
    ),
}


TABLES = ("worker_reputation_daily", "network_daily", "worker_scorecard")


@pytest.fixture(scope="module")
def computed(materialized: Ledger, engine: sa.Engine) -> dict[str, list[dict]]:
    """The tables as the assets computed them (every check passes on them: test_assets)."""
    return {table: table_rows(engine, table) for table in TABLES}


@pytest.fixture
def recomputed(
    materialized: Ledger, computed: dict, engine: sa.Engine, settings
) -> Iterator[Ledger]:
    """After the test, the tables as the assets compute them again (and nothing else left)."""
    yield materialized
    first, last = materialized.days[0], materialized.days[-1]
    with engine.begin() as conn:
        for table in ("worker_reputation_daily", "network_daily"):
            conn.execute(
                sa.text(f"DELETE FROM analytics.{table} WHERE day > :last"), {"last": last}
            )
        refresh_worker_days(conn, first, last)
        refresh_network_days(conn, first, last)
        refresh_scorecard(conn, settings.api_max_failures_per_job)
    assert {table: table_rows(engine, table) for table in TABLES} == computed


@pytest.mark.parametrize("case", sorted(CASES))
def test_check_fails_on_a_corrupted_row(
    case: str,
    recomputed: Ledger,
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    engine: sa.Engine,
) -> None:
    table, check = case.split("/")
    day = recomputed.days[0].isoformat()
    with engine.begin() as conn:
        assert conn.execute(sa.text(CASES[case])).rowcount == 1
    key = SCORECARD_KEY if table == "worker_scorecard" else None
    failed = run_checks(defs, instance, engine, [key] if key else list(DAILY_KEYS), day)
    assert (table, check) in failed


def test_every_check_has_a_corruption_case(defs: dg.Definitions) -> None:
    checks = {
        f"{key.asset_key.path[-1]}/{key.name}"
        for key in defs.resolve_asset_graph().asset_check_keys
        if key.asset_key.path[0] == "analytics"
    }
    assert checks == set(CASES)
