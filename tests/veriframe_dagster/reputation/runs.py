"""Running the reputation assets as Dagster runs them, on the chain's clock.

The history's days lie ahead of the wall clock (devchain's clock only moves forward from the
genesis), so Dagster is told the chain's time through `partition_loading_context`: its
partitions then run up to the chain's current day, as they would with a live chain.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import sqlalchemy as sa

from veriframe_dagster.defs.reputation.assets import (
    NETWORK_DAYS_KEY,
    SCORECARD_KEY,
    WORKER_DAYS_KEY,
)

DAILY_KEYS = (WORKER_DAYS_KEY, NETWORK_DAYS_KEY)


def chain_now(engine: sa.Engine) -> dt.datetime:
    """The chain time of the warehouse's latest block."""
    with engine.connect() as conn:
        return conn.execute(
            sa.text("SELECT block_timestamp FROM chain_blocks ORDER BY block_number DESC LIMIT 1")
        ).scalar_one()


@contextmanager
def on_chain_time(engine: sa.Engine) -> Iterator[dt.datetime]:
    now = chain_now(engine) + dt.timedelta(minutes=1)
    with dg.partition_loading_context(effective_dt=now):
        yield now


def materialize(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    engine: sa.Engine,
    keys: list[dg.AssetKey],
    partition: str | None = None,
    days: tuple[str, str] | None = None,
) -> dg.ExecuteInProcessResult:
    """Materialize `keys` (with their checks) for one partition, a range of days in one run
    (as a single-run backfill does), or unpartitioned."""
    tags = {}
    if days is not None:
        tags = {
            "dagster/asset_partition_range_start": days[0],
            "dagster/asset_partition_range_end": days[1],
        }
    with on_chain_time(engine):
        job = defs.resolve_implicit_job_def_def_for_assets(keys)
        result = job.execute_in_process(
            instance=instance, asset_selection=keys, partition_key=partition, tags=tags
        )
    assert result.success
    return result


def checks_only(defs: dg.Definitions, keys: list[dg.AssetKey]) -> dg.JobDefinition:
    """The assets' job narrowed to their checks: a run that checks without materializing."""
    job = defs.resolve_implicit_job_def_def_for_assets(keys)
    checks = {k for k in defs.resolve_asset_graph().asset_check_keys if k.asset_key in keys}
    return job.get_subset(asset_selection=set(), asset_check_selection=checks)


def run_checks(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    engine: sa.Engine,
    keys: list[dg.AssetKey],
    day: str | None = None,
) -> set[tuple[str, str]]:
    """The failed checks of a checks-only run of `keys` (for `day`: the daily tables)."""
    with on_chain_time(engine):
        tags = {"dagster/partition": day} if day is not None else {}
        result = checks_only(defs, keys).execute_in_process(instance=instance, tags=tags)
    assert result.success
    assert result.get_asset_check_evaluations()
    return failed_checks(result)


def failed_checks(result: dg.ExecuteInProcessResult) -> set[tuple[str, str]]:
    return {
        (e.asset_key.path[-1], e.check_name)
        for e in result.get_asset_check_evaluations()
        if not e.passed
    }


def table_rows(engine: sa.Engine, table: str) -> list[dict]:
    """A table's rows without the computation time, in key order."""
    order = "worker_address" if table == "worker_scorecard" else "day, 2"
    with engine.connect() as conn:
        rows = conn.execute(sa.text(f"SELECT * FROM analytics.{table} ORDER BY {order}"))
        return [{k: v for k, v in r._mapping.items() if k != "computed_at"} for r in rows]


__all__ = [
    "DAILY_KEYS",
    "SCORECARD_KEY",
    "materialize",
    "on_chain_time",
    "run_checks",
    "table_rows",
]
