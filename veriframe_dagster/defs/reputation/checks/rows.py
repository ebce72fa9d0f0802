"""Row counts: one row per registered worker and day, per day, per worker; and no future day.

Who is registered is read from the raw WorkerRegistered events (up to the event id the rows
saw), not from `workers`, which the tables were computed from.
"""

import dagster as dg

from veriframe_dagster.defs.reputation.assets import (
    NETWORK_DAYS_KEY,
    SCORECARD_KEY,
    WORKER_DAYS_KEY,
)
from veriframe_dagster.defs.reputation.checks.scope import days_checked, result, rows, snapshot
from veriframe_dagster.defs.reputation.partitions import DAILY
from veriframe_dagster.resources import WarehouseResource

DAYS = """days AS (
    SELECT d::date AS day, (d + interval '1 day') AT TIME ZONE 'UTC' AS day_end
    FROM generate_series(CAST(:first AS date)::timestamp, CAST(:last AS date)::timestamp,
                         interval '1 day') AS d)"""
LATEST_EVENT = "(SELECT coalesce(max(id), 0) FROM contract_events)"

WORKER_DAYS_SQL = f"""
WITH {DAYS},
actual AS (
    SELECT day, worker_address, count(*) AS n, max(as_of_event_id) AS as_of
    FROM analytics.worker_reputation_daily WHERE day BETWEEN :first AND :last GROUP BY 1, 2
),
as_of AS (SELECT day, max(as_of) AS id FROM actual GROUP BY day),
expected AS (
    SELECT d.day, e.worker_address FROM days d
    LEFT JOIN as_of a ON a.day = d.day
    JOIN contract_events e ON e.event_name = 'WorkerRegistered'
     AND e.block_timestamp < d.day_end AND e.id <= coalesce(a.id, {LATEST_EVENT})
)
SELECT coalesce(x.day, a.day) AS day, coalesce(x.worker_address, a.worker_address) AS worker,
       coalesce(a.n, 0) AS rows, x.worker_address IS NOT NULL AS registered
FROM expected x FULL JOIN actual a ON a.day = x.day AND a.worker_address = x.worker_address
WHERE x.worker_address IS NULL OR a.n IS NULL OR a.n <> 1
ORDER BY 1, 2
"""


@dg.asset_check(
    asset=WORKER_DAYS_KEY,
    name="one_row_per_worker_and_day",
    partitions_def=DAILY,
    description="Each day has exactly one row per worker registered by its end (from the "
    "WorkerRegistered events), and none for anyone else.",
)
def worker_days_one_row_per_worker_and_day(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
) -> dg.AssetCheckResult:
    first, last = days_checked(context)
    with snapshot(warehouse) as conn:
        found = rows(conn, WORKER_DAYS_SQL, {"first": first, "last": last})
    return result(found, f"{len(found)} (day, worker) pairs of {first}..{last} without one row")


NETWORK_DAYS_SQL = f"""
WITH {DAYS}
SELECT d.day, count(n.day) AS rows FROM days d
LEFT JOIN analytics.network_daily n ON n.day = d.day
GROUP BY d.day HAVING count(n.day) <> 1 ORDER BY d.day
"""


@dg.asset_check(
    asset=NETWORK_DAYS_KEY,
    name="one_row_per_day",
    partitions_def=DAILY,
    description="Each day checked has exactly one row.",
)
def network_days_one_row_per_day(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
) -> dg.AssetCheckResult:
    first, last = days_checked(context)
    with snapshot(warehouse) as conn:
        found = rows(conn, NETWORK_DAYS_SQL, {"first": first, "last": last})
    return result(found, f"{len(found)} days of {first}..{last} without exactly one row")


SCORECARD_SQL = f"""
WITH actual AS (
    SELECT worker_address, count(*) AS n, max(as_of_event_id) AS as_of
    FROM analytics.worker_scorecard GROUP BY worker_address
),
expected AS (
    SELECT e.worker_address FROM contract_events e
    WHERE e.event_name = 'WorkerRegistered'
      AND e.id <= coalesce((SELECT max(as_of) FROM actual), {LATEST_EVENT})
)
SELECT coalesce(x.worker_address, a.worker_address) AS worker, coalesce(a.n, 0) AS rows,
       x.worker_address IS NOT NULL AS registered
FROM expected x FULL JOIN actual a ON a.worker_address = x.worker_address
WHERE x.worker_address IS NULL OR a.n IS NULL ORDER BY 1
"""


@dg.asset_check(
    asset=SCORECARD_KEY,
    name="one_row_per_worker",
    description="Exactly one row per registered worker (from the WorkerRegistered events).",
)
def scorecard_one_row_per_worker(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    with snapshot(warehouse) as conn:
        found = rows(conn, SCORECARD_SQL, {})
    return result(found, f"{len(found)} workers without exactly one row")


def _future_sql(table: str) -> str:
    return f"""
    SELECT day, count(*) AS rows FROM analytics.{table}
    WHERE day > greatest(
        (now() AT TIME ZONE 'UTC')::date,
        (SELECT (block_timestamp AT TIME ZONE 'UTC')::date FROM chain_blocks
         ORDER BY block_number DESC LIMIT 1))
    GROUP BY day ORDER BY day
    """


def _no_future_days(key: dg.AssetKey) -> dg.AssetChecksDefinition:
    table = key.path[-1]

    @dg.asset_check(
        asset=key,
        name="no_future_days",
        partitions_def=DAILY,
        description="No row for a day after today (UTC) and after the chain's latest block's "
        "day (the whole table, whatever the partition).",
    )
    def no_future_days(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        with snapshot(warehouse) as conn:
            found = rows(conn, _future_sql(table), {})
        return result(found, f"{len(found)} future days in {table}")

    return no_future_days


ROW_CHECKS = [
    worker_days_one_row_per_worker_and_day,
    network_days_one_row_per_day,
    scorecard_one_row_per_worker,
    _no_future_days(WORKER_DAYS_KEY),
    _no_future_days(NETWORK_DAYS_KEY),
]
