"""A backfill of the daily tables over a range (one run, as `BackfillPolicy.single_run`
makes it) writes the rows that materializing the days one by one wrote."""

from __future__ import annotations

import dagster as dg
import sqlalchemy as sa

from tests.veriframe_dagster.reputation.history import Ledger
from tests.veriframe_dagster.reputation.runs import (
    DAILY_KEYS,
    failed_checks,
    materialize,
    table_rows,
)

DAILY_TABLES = [key.path[-1] for key in DAILY_KEYS]


def test_a_backfill_over_a_range_gives_the_rows_of_the_days_one_by_one(
    materialized: Ledger, defs: dg.Definitions, instance: dg.DagsterInstance, engine: sa.Engine
) -> None:
    one_by_one = {table: table_rows(engine, table) for table in DAILY_TABLES}
    with engine.begin() as conn:
        for table in DAILY_TABLES:
            conn.execute(sa.text(f"DELETE FROM analytics.{table}"))

    first, last = materialized.days[0].isoformat(), materialized.days[-1].isoformat()
    result = materialize(defs, instance, engine, list(DAILY_KEYS), days=(first, last))

    assert {table: table_rows(engine, table) for table in DAILY_TABLES} == one_by_one
    for key in DAILY_KEYS:
        partitions = {
            e.partition for e in result.get_asset_materialization_events() if e.asset_key == key
        }
        assert partitions == {d.isoformat() for d in materialized.days}
    assert result.get_asset_check_evaluations() and failed_checks(result) == set()
