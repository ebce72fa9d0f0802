"""The render domain: the `render` asset (a partition per job), its check, job and sensor."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg

from veriframe_dagster.defs.render.assets import render
from veriframe_dagster.defs.render.checks import frame_rechecked, frame_verified
from veriframe_dagster.defs.render.jobs import render_job
from veriframe_dagster.defs.render.sensor import build_render_sensor


def render_defs(resources: Mapping[str, Any]) -> dg.Definitions:
    """The render domain's definitions; `resources` are what the sensor uses."""
    return dg.Definitions(
        assets=[render],
        asset_checks=[frame_rechecked, frame_verified],
        jobs=[render_job],
        sensors=[build_render_sensor(resources["warehouse"], resources["rendering"])],
    )
