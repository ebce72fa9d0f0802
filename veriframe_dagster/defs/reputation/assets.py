"""The reputation assets: a marker of changed days, and the three analytics tables.

`activity_days` is what the automation keys off: a partition per UTC day, materialized
(runless, by the `activity_days` sensor) when a day's data changed — events ingested, rolled
back by a reorg, jobs expired, attempts ended. Its deps are the chain tables, so the catalog
shows the lineage chain tables → activity_days → reputation tables.

The tables are computed in Postgres (`sql/`): a run moves no rows through Python. The two
daily tables are one step (one connection, one transaction for both); they backfill in one
run per range (`BackfillPolicy.single_run`): one statement per table and range. Each step
evaluates its tables' checks itself, on the same connection right after the write, in one
REPEATABLE READ snapshot (a concurrent ingestion cannot fail them); a checks-only run of the
same step checks the rows as they are.

The steps take the warehouse and the reputation thresholds as resources; the partitions'
first day shapes the definitions, so it is read from `Settings` when they are built.
"""

import datetime as dt
import time
from collections.abc import Callable, Iterator
from typing import Any

import dagster as dg
import sqlalchemy as sa

from veriframe_core.warehouse import analytics
from veriframe_dagster.defs.chain.assets import TABLES as CHAIN_TABLES
from veriframe_dagster.defs.chain.assets import table_key as chain_table_key
from veriframe_dagster.defs.render.assets import RENDER_KEY
from veriframe_dagster.defs.reputation.automation import DAILY_CONDITION, SCORECARD_CONDITION
from veriframe_dagster.defs.reputation.catalog import GROUP, table_key, table_metadata
from veriframe_dagster.defs.reputation.checks import Check, Scope, checks_of
from veriframe_dagster.defs.reputation.partitions import day_range
from veriframe_dagster.defs.reputation.sql.network_days import refresh_network_days
from veriframe_dagster.defs.reputation.sql.scorecard import refresh_scorecard
from veriframe_dagster.defs.reputation.sql.worker_days import refresh_worker_days
from veriframe_dagster.resources import ReputationResource, WarehouseResource

ACTIVITY_DAYS_KEY = dg.AssetKey(["reputation", "activity_days"])
WORKER_DAYS_KEY = table_key("worker_reputation_daily")
NETWORK_DAYS_KEY = table_key("network_daily")
SCORECARD_KEY = table_key("worker_scorecard")

DESCRIPTIONS = {
    WORKER_DAYS_KEY: "Per registered worker and UTC day: reputation at the end of the day, its "
    "change and the reasons, jobs completed / failed / expired, earnings (u256, exact), the "
    "contract's failure rate and eligibility at the default minimum reputation, deliveries "
    "verified / rejected, results rejected on chain and sanctions (on the verdict's day).",
    NETWORK_DAYS_KEY: "Per UTC day: jobs created / claimed / completed / finalized / expired, "
    "rewards escrowed and paid (u256, exact), active and verified workers, median seconds "
    "from creation to claim, to result and to payment, deliveries verified / rejected, "
    "results rejected on chain, sanctions, and median seconds from delivery to verdict.",
    SCORECARD_KEY: "Per registered worker, now: reputation and its 7- and 30-day trend, "
    "success rate, median and p95 render seconds and seconds to claim, lease expiries, "
    "blocked jobs, earnings (u256, exact), rank, the devices it renders on, deliveries "
    "verified / rejected, results rejected on chain and sanctions.",
}

Write = Callable[[sa.Connection], Any]
PARTITION = "dagster/partition"
RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"


def activity_days_spec(partitions: dg.PartitionsDefinition) -> dg.AssetSpec:
    return dg.AssetSpec(
        key=ACTIVITY_DAYS_KEY,
        deps=[chain_table_key(t) for t in CHAIN_TABLES],
        partitions_def=partitions,
        group_name=GROUP,
        description="The UTC days whose source data changed: the activity_days sensor "
        "materializes a day (runless) when chain ingestion adds or rolls back events of it or "
        "expires its jobs, or when render attempts end, verdicts or sanctions fall on it. The "
        "daily tables follow it.",
    )


def _table_spec(key: dg.AssetKey, deps: list[dg.AssetKey], condition: Any) -> dg.AssetSpec:
    return dg.AssetSpec(
        key=key,
        deps=deps,
        automation_condition=condition,
        group_name=GROUP,
        kinds={"postgres"},
        description=DESCRIPTIONS[key],
        metadata=table_metadata(key.path[-1]),
        skippable=True,
    )


def _check_specs(keys: list[dg.AssetKey]) -> list[dg.AssetCheckSpec]:
    return [c.spec(key) for key in keys for c in checks_of(key.path[-1])]


def _summary(conn: sa.Connection, table: str, where: str, params: dict[str, Any]) -> dict:
    row = conn.execute(
        sa.text(
            f"SELECT count(*) AS rows, max(as_of_event_id) AS event_id, max(as_of_block) AS block "
            f"FROM {analytics.SCHEMA}.{table} WHERE {where}"
        ),
        params,
    ).one()
    metadata = {
        "dagster/row_count": dg.MetadataValue.int(row.rows),
        "as_of_event_id": dg.MetadataValue.int(row.event_id or 0),
    }
    if row.block is not None:
        metadata["as_of_block"] = dg.MetadataValue.int(row.block)
    return metadata


def _checked(conn: sa.Connection, key: dg.AssetKey, check: Check, scope: Scope):
    found = check.evaluate(conn, scope)
    return dg.AssetCheckResult(
        asset_key=key,
        check_name=check.name,
        passed=found.passed,
        description=found.description,
        metadata=found.metadata,
    )


def write_and_check(
    context: dg.AssetExecutionContext,
    engine: sa.Engine,
    scope: Scope,
    writes: dict[dg.AssetKey, Write],
    where: str,
) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
    """Write the selected tables in one transaction, then evaluate the selected checks on the
    same connection in one REPEATABLE READ snapshot; a result per selected asset and check."""
    selected = [k for k in writes if k in context.selected_asset_keys]
    metadata: dict[dg.AssetKey, dict[str, Any]] = {}
    params = scope.window() if scope.first is not None else {}
    with engine.connect() as conn:
        if selected:
            with conn.begin():
                for key in selected:
                    started = time.monotonic()
                    writes[key](conn)
                    metadata[key] = _summary(conn, key.path[-1], where, params)
                    metadata[key]["seconds"] = round(time.monotonic() - started, 3)
        started = time.monotonic()
        conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            conn.execute(sa.text("SET TRANSACTION READ ONLY"))
            results = {
                check_key: _checked(conn, check_key.asset_key, check, scope)
                for key in writes
                for check in checks_of(key.path[-1])
                if (check_key := dg.AssetCheckKey(key, check.name))
                in context.selected_asset_check_keys
            }
        checks_s = time.monotonic() - started
    for key in selected:
        rows = metadata[key]["dagster/row_count"].value
        context.log.info(
            f"{key.path[-1]}: {scope.days if scope.first else 'all workers'} recomputed, "
            f"{rows} rows in {metadata[key]['seconds']:.2f} s"
        )
        yield dg.MaterializeResult(
            asset_key=key,
            metadata={**metadata[key], "checks_seconds": round(checks_s, 3)},
            check_results=[r for k, r in results.items() if k.asset_key == key],
        )
    yield from (r for k, r in results.items() if k.asset_key not in selected)


def days_of_run(context: dg.AssetExecutionContext) -> tuple[dt.date, dt.date]:
    """The days a run of the daily tables covers: its partitions' time window, or for a
    checks-only run (whose step Dagster gives no partitions definition) its partition tags."""
    if context.selected_asset_keys:
        return day_range(context.partition_time_window)
    tags = context.run.tags
    first = tags.get(RANGE_START) or tags[PARTITION]
    last = tags.get(RANGE_END) or first
    return dt.date.fromisoformat(first), dt.date.fromisoformat(last)


def build_reputation_assets(partitions: dg.DailyPartitionsDefinition) -> list[Any]:
    """The activity_days marker and the tables' two steps, over the days of `partitions`."""
    daily_keys = [WORKER_DAYS_KEY, NETWORK_DAYS_KEY]

    @dg.multi_asset(
        name="reputation_daily_tables",
        specs=[_table_spec(k, [ACTIVITY_DAYS_KEY], DAILY_CONDITION) for k in daily_keys],
        check_specs=_check_specs(daily_keys),
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        can_subset=True,
    )
    def daily_tables(
        context: dg.AssetExecutionContext,
        warehouse: WarehouseResource,
        reputation: ReputationResource,
    ):
        first, last = days_of_run(context)
        scope = Scope(first, last, reputation.max_lag_s)
        yield from write_and_check(
            context,
            warehouse.engine(),
            scope,
            {
                WORKER_DAYS_KEY: lambda conn: refresh_worker_days(conn, first, last),
                NETWORK_DAYS_KEY: lambda conn: refresh_network_days(conn, first, last),
            },
            "day BETWEEN :first AND :last",
        )

    @dg.multi_asset(
        name="reputation_scorecard",
        specs=[_table_spec(SCORECARD_KEY, [ACTIVITY_DAYS_KEY, RENDER_KEY], SCORECARD_CONDITION)],
        check_specs=_check_specs([SCORECARD_KEY]),
        can_subset=True,
    )
    def scorecard(
        context: dg.AssetExecutionContext,
        warehouse: WarehouseResource,
        reputation: ReputationResource,
    ):
        max_failures = reputation.max_failures_per_job
        yield from write_and_check(
            context,
            warehouse.engine(),
            Scope(lag_s=reputation.max_lag_s),
            {SCORECARD_KEY: lambda conn: refresh_scorecard(conn, max_failures)},
            "true",
        )

    return [activity_days_spec(partitions), daily_tables, scorecard]
