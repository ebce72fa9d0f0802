"""The sanctions domain's definitions."""

import dagster as dg

from veriframe_dagster.defs.sanctions.jobs import sanctions_job
from veriframe_dagster.defs.sanctions.sensor import build_sanctions_sensor


def sanctions_defs(resources: dict) -> dg.Definitions:
    return dg.Definitions(
        jobs=[sanctions_job],
        sensors=[build_sanctions_sensor(resources["warehouse"], resources["sanctions"])],
    )
