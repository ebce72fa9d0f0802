"""The render domain: the `render` asset (a partition per job), its check, job and sensor."""

from __future__ import annotations

import dagster as dg

from veriframe_core.settings import Settings
from veriframe_dagster.defs.render.assets import render
from veriframe_dagster.defs.render.checks import frame_rechecked
from veriframe_dagster.defs.render.sensor import build_render_sensor, render_job


def render_defs(settings: Settings) -> dg.Definitions:
    return dg.Definitions(
        assets=[render],
        asset_checks=[frame_rechecked],
        jobs=[render_job],
        sensors=[build_render_sensor(settings)],
    )
