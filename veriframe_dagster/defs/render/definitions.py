"""The render domain: the `render` asset (a partition per job), its check, job and sensor."""

from __future__ import annotations

import dagster as dg

from veriframe_dagster.defs.render.assets import render
from veriframe_dagster.defs.render.checks import frame_rechecked
from veriframe_dagster.defs.render.sensor import render_job, render_sensor


def render_defs() -> dg.Definitions:
    return dg.Definitions(
        assets=[render],
        asset_checks=[frame_rechecked],
        jobs=[render_job],
        sensors=[render_sensor],
    )
