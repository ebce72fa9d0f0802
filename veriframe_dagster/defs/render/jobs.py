"""The render domain's job: one run per job's render, requested by the render sensor."""

import dagster as dg

from veriframe_dagster.defs.render.assets import RENDER_KEY
from veriframe_dagster.defs.render.partitions import RENDER_PARTITIONS, RENDER_TAG

RENDER_RUN_RETRIES = 2

render_job = dg.define_asset_job(
    "render_job",
    selection=[RENDER_KEY],
    partitions_def=RENDER_PARTITIONS,
    # an interrupted run is run again by Dagster's run retries (dagster.yaml), up to twice
    tags={RENDER_TAG: "true", "dagster/max_retries": str(RENDER_RUN_RETRIES)},
    # one process per run: a step subprocess would import Dagster and the code location again
    # (about 2 CPU-seconds here) for a step that mostly waits on the warehouse
    executor_def=dg.in_process_executor,
    description="Records one job's render from the worker's Pipes messages.",
)
