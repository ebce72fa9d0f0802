"""The chain domain's jobs: one that runs only the chain checks, and its schedule.

The tables are external assets, so the job runs their checks without materializing
anything; in one process (no subprocess per check step on a 2-core host).
"""

from __future__ import annotations

import dagster as dg

from veriframe_dagster.defs.chain.assets import CHAIN_TABLES

CHECKS_JOB_NAME = "chain_checks"

chain_checks_job = dg.define_asset_job(
    CHECKS_JOB_NAME,
    selection=dg.AssetSelection.checks_for_assets(*(spec.key for spec in CHAIN_TABLES)),
    executor_def=dg.in_process_executor,
    description="Runs every asset check of the chain tables (freshness, spot check against "
    "the contract, job id gaps, row consistency).",
)


def build_checks_schedule(cron: str) -> dg.ScheduleDefinition:
    """The chain checks on `cron` (UTC), running from the start."""
    return dg.ScheduleDefinition(
        name=f"{CHECKS_JOB_NAME}_schedule",
        job=chain_checks_job,
        cron_schedule=cron,
        default_status=dg.DefaultScheduleStatus.RUNNING,
    )
