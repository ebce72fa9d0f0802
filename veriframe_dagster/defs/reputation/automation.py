"""Declarative automation of the reputation tables: what brings them up to date, unclicked.

- A daily table: a day is requested when its `activity_days` partition was materialized
  since the previous evaluation (new events, a rollback, an attempt ending that day), or
  when it is the new current day and missing. A reorg's days are thus each requested,
  however far back they go.
- The scorecard: when any day's activity was materialized since the previous evaluation, or
  when it is missing.

Why these are cheap: `newly_updated()` of a dep reads only the materializations since the
previous evaluation, `in_latest_time_window()` narrows `newly_missing()` to one partition,
and nothing is evaluated over the whole history (no `since(...)`, whose state spans every
partition, on every evaluation). A request is not held back while a run of the same day is
in progress: the write replaces whole days under an advisory lock (`sql/common.replace_days`),
so a second run waits and recomputes the day with the newer data — an update landing during
a run is never lost, and a duplicate costs one day's computation.

The render asset is lineage only for the scorecard: its dynamic partitions (one per job)
neither trigger nor hold it back (the scorecard follows the attempts through `activity_days`).

The automation sensor evaluates every `reputation_automation_interval_s` (30 s), so a change
is reflected within a minute plus the run's own time.
"""

from __future__ import annotations

import dagster as dg

from veriframe_dagster.defs.render.assets import RENDER_KEY

AUTOMATION_SENSOR = "reputation_automation"
LINEAGE_ONLY = dg.AssetSelection.assets(RENDER_KEY)

DEP_UPDATED = dg.AutomationCondition.any_deps_match(dg.AutomationCondition.newly_updated())
"""A dep (an `activity_days` partition) was materialized since the previous evaluation."""

NEW_DAY = dg.AutomationCondition.in_latest_time_window() & dg.AutomationCondition.newly_missing()

DAILY_CONDITION = (NEW_DAY | DEP_UPDATED).with_label("day's activity updated, or new day")

SCORECARD_CONDITION = (
    dg.AutomationCondition.newly_missing() | DEP_UPDATED.ignore(LINEAGE_ONLY)
).with_label("any day's activity updated, or missing")


def automation_sensor(
    target: dg.AssetSelection, interval_s: int
) -> dg.AutomationConditionSensorDefinition:
    """The sensor that evaluates the reputation tables' conditions, running from the start."""
    return dg.AutomationConditionSensorDefinition(
        AUTOMATION_SENSOR,
        target=target,
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=interval_s,
        description="Keeps the reputation tables current: the days whose activity changed, "
        "the new day, and the scorecard.",
    )
