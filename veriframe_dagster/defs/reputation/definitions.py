"""The reputation domain's definitions; `Settings` give the partitions' first day and the
sensors' intervals (the steps' thresholds come from the `reputation` resource)."""

from __future__ import annotations

import dagster as dg

from veriframe_core.settings import Settings
from veriframe_dagster.defs.reputation.assets import build_reputation_assets
from veriframe_dagster.defs.reputation.automation import automation_sensor
from veriframe_dagster.defs.reputation.catalog import GROUP
from veriframe_dagster.defs.reputation.partitions import daily_partitions
from veriframe_dagster.defs.reputation.sensor import build_activity_days_sensor


def reputation_defs(settings: Settings) -> dg.Definitions:
    partitions = daily_partitions(settings.reputation_first_day)
    return dg.Definitions(
        assets=build_reputation_assets(partitions),
        sensors=[
            build_activity_days_sensor(partitions, settings.reputation_activity_interval_s),
            automation_sensor(
                dg.AssetSelection.groups(GROUP), settings.reputation_automation_interval_s
            ),
        ],
    )
