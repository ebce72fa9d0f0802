"""The reputation domain's definitions, built from the definitions' `Settings`."""

from __future__ import annotations

import dagster as dg

from veriframe_core.settings import Settings
from veriframe_dagster.defs.reputation.assets import build_reputation_assets
from veriframe_dagster.defs.reputation.automation import automation_sensor
from veriframe_dagster.defs.reputation.catalog import GROUP
from veriframe_dagster.defs.reputation.sensor import build_activity_days_sensor


def reputation_defs(settings: Settings) -> dg.Definitions:
    return dg.Definitions(
        assets=build_reputation_assets(settings),
        sensors=[
            build_activity_days_sensor(settings),
            automation_sensor(
                dg.AssetSelection.groups(GROUP), settings.reputation_automation_interval_s
            ),
        ],
    )
