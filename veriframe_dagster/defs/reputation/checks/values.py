"""Reputation values: the contract keeps every registered worker's reputation in 1–1000."""

import dagster as dg

from veriframe_core.chain import rules
from veriframe_dagster.defs.reputation.assets import SCORECARD_KEY, WORKER_DAYS_KEY
from veriframe_dagster.defs.reputation.checks.scope import days_checked, result, rows, snapshot
from veriframe_dagster.defs.reputation.partitions import DAILY
from veriframe_dagster.resources import WarehouseResource

OUT_OF_RANGE = f"NOT reputation BETWEEN {rules.MIN_REPUTATION} AND {rules.MAX_REPUTATION}"
DESCRIPTION = (
    f"Every reputation is in {rules.MIN_REPUTATION}–{rules.MAX_REPUTATION}, as the contract "
    "keeps it."
)


@dg.asset_check(
    asset=WORKER_DAYS_KEY,
    name="reputation_in_range",
    partitions_def=DAILY,
    description=DESCRIPTION,
)
def worker_days_reputation_in_range(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
) -> dg.AssetCheckResult:
    first, last = days_checked(context)
    with snapshot(warehouse) as conn:
        found = rows(
            conn,
            "SELECT day, worker_address, reputation FROM analytics.worker_reputation_daily "
            f"WHERE day BETWEEN :first AND :last AND {OUT_OF_RANGE} ORDER BY day, worker_address",
            {"first": first, "last": last},
        )
    return result(found, f"{len(found)} rows of {first}..{last} out of range")


@dg.asset_check(asset=SCORECARD_KEY, name="reputation_in_range", description=DESCRIPTION)
def scorecard_reputation_in_range(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    with snapshot(warehouse) as conn:
        found = rows(
            conn,
            "SELECT worker_address, reputation, reputation_7d_ago, reputation_30d_ago "
            f"FROM analytics.worker_scorecard WHERE {OUT_OF_RANGE} "
            f"OR NOT reputation_7d_ago BETWEEN {rules.MIN_REPUTATION} AND {rules.MAX_REPUTATION} "
            f"OR NOT reputation_30d_ago BETWEEN {rules.MIN_REPUTATION} AND {rules.MAX_REPUTATION} "
            "ORDER BY worker_address",
            {},
        )
    return result(found, f"{len(found)} workers with a reputation out of range")


VALUE_CHECKS = [worker_days_reputation_in_range, scorecard_reputation_in_range]
