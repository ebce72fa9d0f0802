"""The uploads domain's definitions."""

import dagster as dg

from veriframe_core.settings import Settings
from veriframe_dagster.defs.uploads.assets import asset_uploads, no_open_job_lost_its_scene
from veriframe_dagster.defs.uploads.jobs import build_sweep_schedule, uploads_sweep_job


def uploads_defs(settings: Settings) -> dg.Definitions:
    return dg.Definitions(
        assets=[asset_uploads],
        asset_checks=[no_open_job_lost_its_scene],
        jobs=[uploads_sweep_job],
        schedules=[build_sweep_schedule(settings.asset_sweep_cron)],
    )
