"""The settlement domain's definitions."""

import dagster as dg

from veriframe_core.settings import Settings
from veriframe_dagster.defs.settlement.jobs import build_settlement_schedule, settlement_job


def settlement_defs(settings: Settings) -> dg.Definitions:
    return dg.Definitions(
        jobs=[settlement_job], schedules=[build_settlement_schedule(settings.settlement_cron)]
    )
