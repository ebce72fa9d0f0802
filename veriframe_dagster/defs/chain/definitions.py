"""The chain domain: warehouse tables as assets, the ingesting sensor, the checks, the
checks' job and schedule (resources: `veriframe_dagster.resources`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg

from veriframe_core.settings import Settings
from veriframe_dagster.defs.chain.assets import CHAIN_TABLES
from veriframe_dagster.defs.chain.checks import CHAIN_CHECKS
from veriframe_dagster.defs.chain.jobs import build_checks_schedule, chain_checks_job
from veriframe_dagster.defs.chain.sensor import build_chain_sensor


def chain_defs(settings: Settings, resources: Mapping[str, Any]) -> dg.Definitions:
    """The chain domain's definitions; `settings` give the sensor's interval and the
    schedule's cron, `resources` what the sensor uses."""
    sensor = build_chain_sensor(
        settings.chain_sensor_interval_s,
        resources["warehouse"],
        resources["chain"],
        resources["ingestion"],
    )
    return dg.Definitions(
        assets=CHAIN_TABLES,
        asset_checks=CHAIN_CHECKS,
        sensors=[sensor],
        jobs=[chain_checks_job],
        schedules=[build_checks_schedule(settings.chain_checks_cron)],
    )
