"""Declarative automation of the reputation tables: what brings them up to date, unclicked.

- A daily table: a day is requested when its `activity_days` partition was updated (new
  events, a rollback, an attempt ending that day) or when it is the new current day; never
  while it runs. A reorg's days are thus each requested, however far back they go.
- The scorecard: when any day's activity updated, or when it is missing.

The render asset is lineage only: its thousands of dynamic partitions neither trigger nor
hold back the scorecard (it follows the attempts through `activity_days`).

The automation sensor evaluates every 30 s, so a change is reflected within a minute plus
the run's own time.
"""

from __future__ import annotations

import dagster as dg

from veriframe_dagster.defs.render.assets import RENDER_KEY

AUTOMATION_SENSOR = "reputation_automation"
EVALUATE_EVERY_S = 30
LINEAGE_ONLY = dg.AssetSelection.assets(RENDER_KEY)

DEP_UPDATED = dg.AutomationCondition.any_deps_match(dg.AutomationCondition.newly_updated())
"""A dep (an `activity_days` partition) was materialized since the last evaluation. Unlike
`any_deps_updated()`, whose inner OR drops the update's timestamp, it keeps its timing."""
UPDATED_SINCE_REQUESTED = DEP_UPDATED.since(dg.AutomationCondition.newly_requested())
"""A dep updated since the target was last requested. Reset by the request alone, and both
timed: an update that lands after the request (while its run is under way, or before the
next evaluation sees it finish) wins over the reset and is not lost. The stock
`since_last_handled` reset is an untimed OR, so there the reset would win and drop it."""

DAILY_CONDITION = (
    (
        (dg.AutomationCondition.in_latest_time_window() & dg.AutomationCondition.newly_missing())
        | UPDATED_SINCE_REQUESTED
    )
    & ~dg.AutomationCondition.in_progress()
).with_label("day's activity updated, or new day")

SCORECARD_CONDITION = (
    (
        dg.AutomationCondition.newly_missing()
        | DEP_UPDATED.ignore(LINEAGE_ONLY).since(dg.AutomationCondition.newly_requested())
    )
    & ~dg.AutomationCondition.in_progress()
).with_label("any day's activity updated, or missing")


def automation_sensor(target: dg.AssetSelection) -> dg.AutomationConditionSensorDefinition:
    """The sensor that evaluates the reputation tables' conditions, running from the start."""
    return dg.AutomationConditionSensorDefinition(
        AUTOMATION_SENSOR,
        target=target,
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=EVALUATE_EVERY_S,
        description="Keeps the reputation tables current: the days whose activity changed, "
        "the new day, and the scorecard.",
    )
