"""The reputation domain's definitions; `Settings` give the partitions' first day and the
sensors' intervals, the resources the warehouse the activity_days sensor reads (the steps
take theirs, the thresholds in `reputation` included, as resource parameters)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg

from veriframe_core.settings import Settings
from veriframe_dagster.defs.reputation.assets import build_reputation_assets
from veriframe_dagster.defs.reputation.automation import automation_sensor
from veriframe_dagster.defs.reputation.catalog import GROUP
from veriframe_dagster.defs.reputation.partitions import daily_partitions
from veriframe_dagster.defs.reputation.sensor import build_activity_days_sensor


def reputation_defs(settings: Settings, resources: Mapping[str, Any]) -> dg.Definitions:
    partitions = daily_partitions(settings.reputation_first_day)
    days_sensor = build_activity_days_sensor(
        partitions, settings.reputation_activity_interval_s, resources["warehouse"]
    )
    return dg.Definitions(
        assets=build_reputation_assets(partitions),
        sensors=[
            days_sensor,
            automation_sensor(
                dg.AssetSelection.groups(GROUP), settings.reputation_automation_interval_s
            ),
        ],
    )
