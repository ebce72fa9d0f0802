"""The reputation assets: a marker of changed days, and the three analytics tables.

`activity_days` is what the automation keys off: a partition per UTC day, materialized
(runless, by the `activity_days` sensor) when a day's data changed — events ingested, rolled
back by a reorg, jobs expired, attempts ended. Its deps are the chain tables, so the catalog
shows the lineage chain tables → activity_days → reputation tables.

The tables are computed in Postgres (`sql/`): a run moves no rows through Python. Daily
tables backfill in one run per range (`BackfillPolicy.single_run`): one statement per range.
"""

import time
from typing import Any

import dagster as dg
import sqlalchemy as sa

from veriframe_core import analytics
from veriframe_dagster.defs.chain.assets import TABLES as CHAIN_TABLES
from veriframe_dagster.defs.chain.assets import table_key as chain_table_key
from veriframe_dagster.defs.render.assets import RENDER_KEY
from veriframe_dagster.defs.reputation.automation import DAILY_CONDITION, SCORECARD_CONDITION
from veriframe_dagster.defs.reputation.catalog import GROUP, table_key, table_metadata
from veriframe_dagster.defs.reputation.partitions import DAILY, day_range
from veriframe_dagster.defs.reputation.sql.network_days import refresh_network_days
from veriframe_dagster.defs.reputation.sql.scorecard import refresh_scorecard
from veriframe_dagster.defs.reputation.sql.worker_days import refresh_worker_days
from veriframe_dagster.resources import SettingsResource, WarehouseResource

ACTIVITY_DAYS_KEY = dg.AssetKey(["reputation", "activity_days"])
WORKER_DAYS_KEY = table_key("worker_reputation_daily")
SCORECARD_KEY = table_key("worker_scorecard")
NETWORK_DAYS_KEY = table_key("network_daily")

ACTIVITY_DAYS = dg.AssetSpec(
    key=ACTIVITY_DAYS_KEY,
    deps=[chain_table_key(t) for t in CHAIN_TABLES],
    partitions_def=DAILY,
    group_name=GROUP,
    description="The UTC days whose source data changed: the activity_days sensor "
    "materializes a day (runless) when chain ingestion adds or rolls back events of it or "
    "expires its jobs, or when render attempts end on it. The daily tables follow it.",
)


def _summary(conn: sa.Connection, table: str, where: str, params: dict[str, Any]) -> dict:
    row = conn.execute(
        sa.text(
            f"SELECT count(*) AS rows, max(as_of_event_id) AS event_id, max(as_of_block) AS block "
            f"FROM {analytics.SCHEMA}.{table} WHERE {where}"
        ),
        params,
    ).one()
    return {
        "dagster/row_count": dg.MetadataValue.int(row.rows),
        "as_of_event_id": dg.MetadataValue.int(row.event_id or 0),
        "as_of_block": dg.MetadataValue.int(row.block) if row.block is not None else None,
    }


def _daily(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, table: str, refresh: Any
) -> dg.MaterializeResult:
    first, last = day_range(context.partition_time_window)
    started = time.monotonic()
    with warehouse.engine().begin() as conn:
        refresh(conn, first, last)
        metadata = _summary(
            conn, table, "day BETWEEN :first AND :last", {"first": first, "last": last}
        )
    took = time.monotonic() - started
    context.log.info(
        f"{table}: days {first}..{last} recomputed, {metadata['dagster/row_count'].value} rows "
        f"in {took:.2f} s"
    )
    return dg.MaterializeResult(
        metadata={
            **{k: v for k, v in metadata.items() if v is not None},
            "days": dg.MetadataValue.int((last - first).days + 1),
            "seconds": dg.MetadataValue.float(round(took, 3)),
        }
    )


def _daily_asset(key: dg.AssetKey, description: str):
    table = key.path[-1]
    return dict(
        key=key,
        deps=[ACTIVITY_DAYS_KEY],
        partitions_def=DAILY,
        backfill_policy=dg.BackfillPolicy.single_run(),
        automation_condition=DAILY_CONDITION,
        group_name=GROUP,
        kinds={"postgres"},
        description=description,
        metadata=table_metadata(table),
    )


@dg.asset(
    **_daily_asset(
        WORKER_DAYS_KEY,
        "Per registered worker and UTC day: reputation at the end of the day, its change and "
        "the reasons, jobs completed / failed / expired, earnings (u256, exact), the "
        "contract's failure rate and eligibility at the default minimum reputation.",
    )
)
def worker_reputation_daily(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    return _daily(context, warehouse, WORKER_DAYS_KEY.path[-1], refresh_worker_days)


@dg.asset(
    **_daily_asset(
        NETWORK_DAYS_KEY,
        "Per UTC day: jobs created / claimed / completed / finalized / expired, rewards "
        "escrowed and paid (u256, exact), active and verified workers, median seconds from "
        "creation to claim, to result and to payment.",
    )
)
def network_daily(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    return _daily(context, warehouse, NETWORK_DAYS_KEY.path[-1], refresh_network_days)


@dg.asset(
    key=SCORECARD_KEY,
    deps=[ACTIVITY_DAYS_KEY, RENDER_KEY],
    automation_condition=SCORECARD_CONDITION,
    group_name=GROUP,
    kinds={"postgres"},
    description="Per registered worker, now: reputation and its 7- and 30-day trend, success "
    "rate, median and p95 render seconds and seconds to claim, lease expiries, blocked "
    "jobs, earnings (u256, exact), rank, and the devices it renders on.",
    metadata=table_metadata(SCORECARD_KEY.path[-1]),
)
def worker_scorecard(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, settings: SettingsResource
) -> dg.MaterializeResult:
    started = time.monotonic()
    max_failures = settings.settings().api_max_failures_per_job
    with warehouse.engine().begin() as conn:
        refresh_scorecard(conn, max_failures)
        metadata = _summary(conn, SCORECARD_KEY.path[-1], "true", {})
    took = time.monotonic() - started
    context.log.info(
        f"worker_scorecard: {metadata['dagster/row_count'].value} workers in {took:.2f} s"
    )
    return dg.MaterializeResult(
        metadata={
            **{k: v for k, v in metadata.items() if v is not None},
            "seconds": dg.MetadataValue.float(round(took, 3)),
        }
    )


REPUTATION_TABLES = [worker_reputation_daily, network_daily, worker_scorecard]
