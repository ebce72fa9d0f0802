"""The render domain: the `render` asset (a partition per job), its check, job and sensor."""

from __future__ import annotations

import dagster as dg

from veriframe_dagster.defs.render.assets import render
from veriframe_dagster.defs.render.checks import frame_rechecked
from veriframe_dagster.defs.render.jobs import render_job
from veriframe_dagster.defs.render.sensor import render_sensor


def render_defs() -> dg.Definitions:
    """The render domain's definitions (a function, as the other domains': a `Definitions`
    at module scope would be a second one in the code location's module)."""
    return dg.Definitions(
        assets=[render],
        asset_checks=[frame_rechecked],
        jobs=[render_job],
        sensors=[render_sensor],
    )
