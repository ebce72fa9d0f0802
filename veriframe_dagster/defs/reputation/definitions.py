"""The reputation domain's definitions (its resources are the shared ones)."""

from __future__ import annotations

import dagster as dg

from veriframe_dagster.defs.reputation.assets import ACTIVITY_DAYS, REPUTATION_TABLES
from veriframe_dagster.defs.reputation.automation import automation_sensor
from veriframe_dagster.defs.reputation.catalog import GROUP
from veriframe_dagster.defs.reputation.checks import REPUTATION_CHECKS
from veriframe_dagster.defs.reputation.sensor import activity_days_sensor


def reputation_defs() -> dg.Definitions:
    return dg.Definitions(
        assets=[ACTIVITY_DAYS, *REPUTATION_TABLES],
        asset_checks=REPUTATION_CHECKS,
        sensors=[activity_days_sensor, automation_sensor(dg.AssetSelection.groups(GROUP))],
    )
