"""The render sensor: adds a partition for every new chain job and requests a run when an
attempt has something to record, in the same tick.

No run is requested at the claim: a claimed job holds no run slot and no process, however
long its worker renders or stays silent, so a delivery is recorded as soon as a slot is free
and the queued run coordinator's limit on render runs (dagster.yaml) is never taken by jobs
that are only claimed. The API numbers each attempt's outcome as it commits
(`job_attempts.recordable_seq`, migration 0012) and the sensor's cursor follows that number:

- a delivered attempt, once verification decided it, gets a run of its own (run key
  `render-<job>-a<attempt>`, tag `veriframe/attempt`), which records it without waiting;
- a failed or expired attempt that completes a round of `render_max_failed_attempts` of
  them gets a run per round (`render-<job>-<round>`, tag `veriframe/failed_round`), which
  fails with their reasons; other failures request nothing.

Expired jobs get no partition. Each tick reads at most a page of jobs and of outcomes from
its cursor, so a first tick over a long history (or a restart after a long outage) drains
over several ticks instead of flooding the queue. The partitions are added by the sensor
itself, in one statement per tick.

Dagster's daemon starts sensor ticks at most every 5 s, whatever `minimum_interval_seconds`
says; waiting for the next tick was most of the delay between a short render's end and its
record. So a tick that finds nothing to request waits (`render_sensor_follow_s`) for the
warehouse's next change notification (the API sends one with every attempt's end, chain
ingestion with new jobs) and returns as soon as it has a run to request.

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

from veriframe_dagster.defs.render.assets import ENDED
from veriframe_dagster.defs.render.jobs import render_job
from veriframe_dagster.defs.render.partitions import (
    ATTEMPT_TAG,
    FAILED_ROUND_TAG,
    RENDER_PARTITIONS,
    RENDER_TAG,
)
from veriframe_dagster.resources import RenderingResource, WarehouseResource

SENSOR_NAME = "render_sensor"
JOBS_PER_TICK = 10_000
OUTCOMES_PER_TICK = 200

NEW_JOBS = sa.text(
    "SELECT job_id, status FROM jobs WHERE job_id > :after ORDER BY job_id LIMIT :limit"
)
NEW_OUTCOMES = sa.text(
    f"""
    SELECT a.recordable_seq, a.job_id, a.attempt, a.state,
           (SELECT count(*) FROM job_attempts f
            WHERE f.job_id = a.job_id AND f.attempt <= a.attempt
              AND f.state IN {ENDED}) AS failures
    FROM job_attempts a
    WHERE a.recordable_seq > :after ORDER BY a.recordable_seq LIMIT :limit
    """
)


def run_request(outcome: sa.Row, max_failed: int) -> dg.RunRequest | None:
    """The run that records an attempt's outcome: its delivery (a run per attempt), or the
    round of `max_failed` failures it completes (a run per round); None for a failure that
    completes no round."""
    job_id, tags = int(outcome.job_id), {RENDER_TAG: "true"}
    if outcome.state not in ENDED:
        key, tags[ATTEMPT_TAG] = f"render-{job_id}-a{outcome.attempt}", str(outcome.attempt)
    elif outcome.failures % max_failed == 0:
        number = outcome.failures // max_failed - 1
        key, tags[FAILED_ROUND_TAG] = f"render-{job_id}-{number}", str(number)
    else:
        return None
    return dg.RunRequest(run_key=key, partition_key=str(job_id), tags=tags)


def render_tick(
    conn: sa.Connection, cursor: str | None, max_failed: int
) -> tuple[list[str], list[dg.RunRequest], str]:
    """The partitions to add, the runs to request and the new cursor, from `cursor` on."""
    position = json.loads(cursor) if cursor else {}
    after_job, after_seq = position.get("job", 0), position.get("recordable", 0)
    jobs = conn.execute(NEW_JOBS, {"after": after_job, "limit": JOBS_PER_TICK}).all()
    outcomes = conn.execute(NEW_OUTCOMES, {"after": after_seq, "limit": OUTCOMES_PER_TICK}).all()
    partitions = [str(int(j.job_id)) for j in jobs if j.status != "expired"]
    requests = [r for o in outcomes if (r := run_request(o, max_failed)) is not None]
    recorded = {r.partition_key for r in requests}
    partitions += sorted(recorded - set(partitions), key=int)  # indexed before the page
    new_position = {
        "job": int(jobs[-1].job_id) if jobs else after_job,
        "recordable": outcomes[-1].recordable_seq if outcomes else after_seq,
    }
    return partitions, requests, json.dumps(new_position)


def render_tick_following(
    engine: sa.Engine, cursor: str | None, max_failed: int, follow_s: float
) -> tuple[list[str], list[dg.RunRequest], str]:
    """`render_tick`, or, when it requests no run, the first one that does within `follow_s`
    (each woken by a change notification, so a quiet network costs no queries). New jobs
    alone do not end the wait: they are added with the run that ends it, or at its end."""
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
        minimum_interval_seconds=1,  # the tick's lag is most of render end → recorded
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Adds a `render` partition per chain job and requests a run when an "
        "attempt has an outcome to record: one per delivered attempt, one per round of "
        "failed attempts.",
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
