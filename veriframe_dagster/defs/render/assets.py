"""The `render` asset: one partition per chain job, materialized when the job is delivered.

Its run does not render. It is the recorder: it replays what the worker reported through
Pipes over the API (stored in the warehouse) as the run's logs, and records the
materialization with the platform's own facts (the result CID the API checked, the worker
that held the claim) beside what the worker reported (device, render time, Blender
version). After `render_max_failed_attempts` failed attempts the run fails with their
reasons.
"""

from datetime import UTC, datetime

import dagster as dg
import sqlalchemy as sa

from veriframe_dagster.defs.render.partitions import RENDER_PARTITIONS, RENDER_TAG
from veriframe_dagster.defs.render.pipes import NoInjection, WarehouseMessageReader
from veriframe_dagster.resources import IpfsResource, RenderingResource, WarehouseResource

RENDER_KEY = dg.AssetKey("render")
GRACE_S = 600  # a claim may deliver a little after the deadline it was claimed before
REPORTED = ("device", "render_seconds", "blender_version", "width", "height", "peak_memory_mb")


def _deadline(engine: sa.Engine, job_id: int) -> datetime:
    with engine.connect() as conn:
        deadline = conn.execute(
            sa.text("SELECT deadline FROM jobs WHERE job_id = :j"), {"j": job_id}
        ).scalar()
    if deadline is None:
        raise dg.Failure(f"job {job_id} is not in the warehouse (not indexed yet, or reorged)")
    return deadline


@dg.asset(
    key=RENDER_KEY,
    partitions_def=RENDER_PARTITIONS,
    group_name="render",
    op_tags={RENDER_TAG: "true"},
    kinds={"blender", "ipfs"},
    description="A job's rendered frame on IPFS, delivered by a worker agent; the partition "
    "key is the chain job id. Materialized from the worker's Pipes messages.",
)
def render(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    ipfs: IpfsResource,
    rendering: RenderingResource,
) -> dg.MaterializeResult:
    job_id = int(context.partition_key)
    engine = warehouse.engine()
    wait_s = (_deadline(engine, job_id) - datetime.now(UTC)).total_seconds() + GRACE_S
    reader = WarehouseMessageReader(
        engine, job_id, context.log.warning, max_failures=rendering.max_failed_attempts
    )
    with dg.open_pipes_session(context, NoInjection(), reader) as session:
        outcome = reader.wait(max(wait_s, GRACE_S))
        reported = [r for r in session.get_results() if isinstance(r, dg.MaterializeResult)]
    attempt = outcome.completed
    if attempt is None:
        raise dg.Failure(
            description=f"job {job_id} failed {len(outcome.failures)} attempts: "
            + "; ".join(outcome.failures),
            metadata={"failures": outcome.failures},
        )
    claimed = {**(attempt["result"] or {})}
    worker_said = {k: v.value for r in reported for k, v in (r.metadata or {}).items()}
    if worker_said.get("result_cid") not in (None, attempt["result_cid"]):
        context.log.warning(
            f"Job {job_id}: the worker reported CID {worker_said['result_cid']} through Pipes "
            f"but delivered {attempt['result_cid']}; the delivered one is recorded"
        )
    cid = attempt["result_cid"]
    image = ipfs.link(cid)  # the CID was checked on delivery
    metadata: dict[str, object] = {
        "image": dg.MetadataValue.md(f"![job {job_id}, frame rendered by the worker]({image})"),
        "result_cid": cid,
        "preview": dg.MetadataValue.url(image),
        "worker": attempt["worker_address"],
        "attempts": attempt["attempt"],
        "failed_attempts": len(outcome.failures),
    }
    for key in REPORTED:
        value = worker_said.get(key, claimed.get(key))
        if value is not None:
            metadata[key] = value
    if "render_time_s" in claimed and "render_seconds" not in metadata:
        metadata["render_seconds"] = claimed["render_time_s"]
    return dg.MaterializeResult(metadata=metadata)
