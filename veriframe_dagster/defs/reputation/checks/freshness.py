"""Freshness: the rows have seen every event the warehouse has held for longer than
`chain_fresh_max_lag_s` — measured by event ids, so a reorg's re-ingested events (new ids in
old blocks) count as unseen too, until their days are recomputed."""

import dagster as dg

from veriframe_dagster.defs.reputation.assets import (
    NETWORK_DAYS_KEY,
    SCORECARD_KEY,
    WORKER_DAYS_KEY,
)
from veriframe_dagster.defs.reputation.checks.scope import (
    days_checked,
    result,
    rows,
    snapshot,
    window_params,
)
from veriframe_dagster.defs.reputation.partitions import DAILY
from veriframe_dagster.resources import SettingsResource, WarehouseResource


def _daily_sql(table: str) -> str:
    return f"""
    WITH seen AS (
        SELECT d::date AS day, coalesce(
            (SELECT min(as_of_event_id) FROM analytics.{table} t WHERE t.day = d::date), 0) AS id
        FROM generate_series(CAST(:first AS date)::timestamp, CAST(:last AS date)::timestamp,
                             interval '1 day') AS d
    )
    SELECT s.day, s.id AS seen_up_to, count(e.id) AS unseen_events,
           min(e.ingested_at) AS oldest_unseen_ingested_at
    FROM seen s
    JOIN contract_events e ON e.id > s.id
     AND e.block_timestamp >= :t0 AND e.block_timestamp < :t1
     AND (e.block_timestamp AT TIME ZONE 'UTC')::date = s.day
     AND e.ingested_at < now() - make_interval(secs => :lag_s)
    WHERE e.id > (SELECT min(id) FROM seen)
    GROUP BY s.day, s.id ORDER BY s.day
    """


def _daily_freshness(key: dg.AssetKey) -> dg.AssetChecksDefinition:
    table = key.path[-1]
    sql = _daily_sql(table)

    @dg.asset_check(
        asset=key,
        name="fresh",
        partitions_def=DAILY,
        description="The day's rows have seen every event of the day that the warehouse has "
        "held for longer than chain_fresh_max_lag_s.",
    )
    def fresh(
        context: dg.AssetCheckExecutionContext,
        warehouse: WarehouseResource,
        settings: SettingsResource,
    ) -> dg.AssetCheckResult:
        first, last = days_checked(context)
        lag_s = settings.settings().chain_fresh_max_lag_s
        with snapshot(warehouse) as conn:
            found = rows(conn, sql, {**window_params(first, last), "lag_s": lag_s})
        return result(
            found,
            f"{len(found)} days of {first}..{last} miss events older than {lag_s:g} s",
            max_lag_seconds=lag_s,
        )

    return fresh


SCORECARD_SQL = """
WITH seen AS (SELECT coalesce(min(as_of_event_id), 0) AS id FROM analytics.worker_scorecard)
SELECT s.id AS seen_up_to, count(e.id) AS unseen_events,
       min(e.ingested_at) AS oldest_unseen_ingested_at
FROM seen s JOIN contract_events e
  ON e.id > s.id AND e.ingested_at < now() - make_interval(secs => :lag_s)
GROUP BY s.id
"""


@dg.asset_check(
    asset=SCORECARD_KEY,
    name="fresh",
    description="The scorecard has seen every event the warehouse has held for longer than "
    "chain_fresh_max_lag_s.",
)
def scorecard_fresh(
    warehouse: WarehouseResource, settings: SettingsResource
) -> dg.AssetCheckResult:
    lag_s = settings.settings().chain_fresh_max_lag_s
    with snapshot(warehouse) as conn:
        found = rows(conn, SCORECARD_SQL, {"lag_s": lag_s})
    return result(
        found,
        f"the scorecard misses {found[0]['unseen_events']} events" if found else "up to date",
        max_lag_seconds=lag_s,
    )


FRESHNESS_CHECKS = [
    _daily_freshness(WORKER_DAYS_KEY),
    _daily_freshness(NETWORK_DAYS_KEY),
    scorecard_fresh,
]
