"""The sanctions sensor: requests the sanctions job when verification has rejected something
not yet answered (a forged result on chain, a worker at its rejection limit).

One run per set of due causes (the run key names the newest and how many), so a tick that
finds the same due causes while their run is queued requests nothing new. It uses the
warehouse and the sanctions policy handed to it when the definitions are built (see the
chain sensor: resource parameters would make a Dagster instance on every tick)."""

from __future__ import annotations

import dagster as dg

from veriframe_dagster.defs.sanctions.due import due
from veriframe_dagster.defs.sanctions.jobs import sanctions_job
from veriframe_dagster.resources import SanctionsResource, WarehouseResource

SENSOR_NAME = "sanctions_sensor"


def build_sanctions_sensor(
    warehouse: WarehouseResource, sanctions: SanctionsResource
) -> dg.SensorDefinition:
    @dg.sensor(
        name=SENSOR_NAME,
        job=sanctions_job,
        minimum_interval_seconds=15,
        default_status=(
            dg.DefaultSensorStatus.RUNNING if sanctions.enabled else dg.DefaultSensorStatus.STOPPED
        ),
        description="Requests the sanctions job when verification rejected a result on chain, "
        "or a worker reached its rejection limit.",
    )
    def sanctions_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        with warehouse.engine().connect() as conn:
            causes = due(conn, sanctions.max_rejections)
        if not causes:
            return dg.SensorResult(skip_reason="no sanction due")
        newest = max(c.verification_id for c in causes)
        return dg.SensorResult(
            run_requests=[dg.RunRequest(run_key=f"sanctions-{newest}-{len(causes)}")]
        )

    return sanctions_sensor
