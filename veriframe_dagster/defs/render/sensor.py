"""The render sensor: adds a partition for every new chain job and requests the job's run
when a worker claims it, in the same tick.

The run is requested at the claim, not at the job's creation, so open jobs nobody took cost
no run process; the queued run coordinator caps how many render runs wait at once
(dagster.yaml). One run per job and per `render_max_failed_attempts` attempts: the run key
is `render-<job>-<round>`, so a job whose run failed gets a new one when it is claimed
again after that many failures. Expired jobs get no partition. Each tick reads at most a
page of jobs and of attempts from its cursor, so a first tick over a long history (or a
restart after a long outage) drains over several ticks instead of flooding the queue.
The partitions are added by the sensor itself, in one statement per tick.

Dagster's daemon starts sensor ticks at most every 5 s, whatever `minimum_interval_seconds`
says; a claim waiting for the next tick was most of the delay between a short render's end
and its record. So a tick that finds nothing new waits (`render_sensor_follow_s`) for the
warehouse's next change notification (claims and chain ingestion send one) and returns as
soon as it has a run to request.

It uses the resources the render asset takes (the warehouse, the rendering knobs), handed
to it when the definitions are built rather than as resource parameters, which would make
a Dagster instance on every tick (see the chain sensor).
"""

from __future__ import annotations

import json
import select
import time

import dagster as dg
import sqlalchemy as sa

from veriframe_dagster.defs.render.jobs import render_job
from veriframe_dagster.defs.render.partitions import RENDER_PARTITIONS, RENDER_TAG
from veriframe_dagster.resources import RenderingResource, WarehouseResource

SENSOR_NAME = "render_sensor"
JOBS_PER_TICK = 10_000
ATTEMPTS_PER_TICK = 200

NEW_JOBS = sa.text(
    "SELECT job_id, status FROM jobs WHERE job_id > :after ORDER BY job_id LIMIT :limit"
)
NEW_ATTEMPTS = sa.text(
    """
    SELECT a.id, a.job_id, a.attempt FROM job_attempts a
    WHERE a.id > :after ORDER BY a.id LIMIT :limit
    """
)


def run_key(job_id: int, attempt: int, max_failed: int) -> str:
    return f"render-{job_id}-{(attempt - 1) // max_failed}"


def render_tick(
    conn: sa.Connection, cursor: str | None, max_failed: int
) -> tuple[list[str], list[dg.RunRequest], str]:
    """The partitions to add, the runs to request and the new cursor, from `cursor` on."""
    position = json.loads(cursor) if cursor else {"job": 0, "attempt": 0}
    jobs = conn.execute(NEW_JOBS, {"after": position["job"], "limit": JOBS_PER_TICK}).all()
    attempts = conn.execute(
        NEW_ATTEMPTS, {"after": position["attempt"], "limit": ATTEMPTS_PER_TICK}
    ).all()
    partitions = [str(int(j.job_id)) for j in jobs if j.status != "expired"]
    requests: dict[str, dg.RunRequest] = {}
    for attempt in attempts:
        job_id = int(attempt.job_id)
        key = run_key(job_id, attempt.attempt, max_failed)
        requests.setdefault(
            key, dg.RunRequest(run_key=key, partition_key=str(job_id), tags={RENDER_TAG: "true"})
        )
    claimed = {r.partition_key for r in requests.values()}
    partitions += sorted(claimed - set(partitions), key=int)  # claimed before the page
    new_position = {
        "job": int(jobs[-1].job_id) if jobs else position["job"],
        "attempt": attempts[-1].id if attempts else position["attempt"],
    }
    return partitions, list(requests.values()), json.dumps(new_position)


def render_tick_following(
    engine: sa.Engine, cursor: str | None, max_failed: int, follow_s: float
) -> tuple[list[str], list[dg.RunRequest], str]:
    """`render_tick`, or, when it requests no run, the first one that does within `follow_s`
    (each woken by a change notification, so a quiet network costs no queries). New jobs
    alone do not end the wait: their claim usually follows within a second."""
    with engine.connect() as conn:
        found = render_tick(conn, cursor, max_failed)
    if found[1] or follow_s <= 0:
        return found
    # not at definitions load: the warehouse's engine module pulls in the embedded server
    from veriframe_core.warehouse.engine import dedicated_session
    from veriframe_core.warehouse.notify import CHANNEL

    until = time.monotonic() + follow_s
    session = dedicated_session(engine, "veriframe-render-sensor")
    try:
        with session.cursor() as cur:
            cur.execute(f"LISTEN {CHANNEL}")
        while True:  # looks again after LISTEN: a change may have committed just before it
            with engine.connect() as conn:
                found = render_tick(conn, cursor, max_failed)
            remaining = until - time.monotonic()
            if found[1] or remaining <= 0:
                return found
            if select.select([session], [], [], remaining)[0]:
                session.poll()
                session.notifies.clear()
    finally:
        session.close()


def build_render_sensor(
    warehouse: WarehouseResource, rendering: RenderingResource
) -> dg.SensorDefinition:
    """The render sensor on these resources."""

    @dg.sensor(
        name=SENSOR_NAME,
        job=render_job,
        minimum_interval_seconds=1,  # the claim-to-run lag is most of render end → recorded
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Adds a `render` partition per chain job and requests its run when a "
        "worker claims it (run key per job and round of attempts).",
    )
    def render_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        partitions, requests, cursor = render_tick_following(
            warehouse.engine(),
            context.cursor,
            rendering.max_failed_attempts,
            rendering.sensor_follow_s,
        )
        if partitions:
            # One bulk insert. A `dynamic_partitions_requests` entry would cost the daemon one
            # query per key (measured: 2.5 min for a tick of 10,000); adding is idempotent, so
            # a tick that fails after this adds nothing twice when it runs again.
            context.instance.add_dynamic_partitions(RENDER_PARTITIONS.name, partitions)
        if partitions or requests:
            context.log.info(
                f"Render sensor: {len(partitions)} partitions added, {len(requests)} runs requested"
            )
        return dg.SensorResult(run_requests=requests, cursor=cursor)

    return render_sensor
