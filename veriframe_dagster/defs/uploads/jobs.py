"""The uploads sweep's job and schedule: one in-process run (a few statements and Kubo
calls) that materializes `asset_uploads` and runs its check."""

from __future__ import annotations

import dagster as dg

from veriframe_dagster.defs.uploads.assets import UPLOADS_KEY

SWEEP_JOB_NAME = "uploads_sweep"

uploads_sweep_job = dg.define_asset_job(
    SWEEP_JOB_NAME,
    selection=dg.AssetSelection.assets(UPLOADS_KEY),
    executor_def=dg.in_process_executor,
    description="Unpins the scenes uploaded through the API that no job used within the grace "
    "period (VERIFRAME_ASSET_UNUSED_GRACE_S), and marks them in asset_uploads.",
)


def build_sweep_schedule(cron: str) -> dg.ScheduleDefinition:
    """The sweep on `cron` (UTC), running from the start: it needs nothing configured."""
    return dg.ScheduleDefinition(
        name=f"{SWEEP_JOB_NAME}_schedule",
        job=uploads_sweep_job,
        cron_schedule=cron,
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
    )
