"""The checks on every `render` partition, never trusting what the worker reported: the
frame is downloaded again from IPFS and re-checked (it decodes, has the job's resolution,
is not blank), and the verifiers' verdict on it is recorded (`frame_verified`)."""

import tempfile
from pathlib import Path

import dagster as dg
import sqlalchemy as sa

from veriframe_dagster.defs.render.assets import RENDER_KEY
from veriframe_dagster.defs.render.partitions import ATTEMPT_TAG, RENDER_PARTITIONS
from veriframe_dagster.resources import IpfsResource, WarehouseResource

DELIVERED = sa.text(
    """
    SELECT a.result_cid, coalesce(s.resolution_x, 1920) AS width,
           coalesce(s.resolution_y, 1080) AS height,
           v.id AS verification_id, v.state AS verdict, v.report
    FROM job_attempts a JOIN jobs j ON j.job_id = a.job_id
    LEFT JOIN job_render_settings s ON s.job_id = j.job_id AND s.created_tx = j.created_tx
    LEFT JOIN verifications v ON v.attempt_id = a.id
    WHERE a.job_id = :job_id AND a.state IN ('completed', 'verifying', 'verified', 'rejected')
      AND (a.attempt = :attempt OR CAST(:attempt AS integer) IS NULL)
    ORDER BY a.attempt DESC LIMIT 1
    """
)
"""The delivery the run recorded (tag `veriframe/attempt`; without it, the latest)."""


def _delivered(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource):
    tag = context.op_execution_context.run.tags.get(ATTEMPT_TAG)
    params = {"job_id": int(context.partition_key), "attempt": int(tag) if tag else None}
    with warehouse.engine().connect() as conn:
        return conn.execute(DELIVERED, params).first()


@dg.asset_check(
    asset=RENDER_KEY,
    name="frame_rechecked",
    partitions_def=RENDER_PARTITIONS,
    blocking=True,
    description="The delivered frame, downloaded again from IPFS, decodes, has the job's "
    "resolution and is not blank.",
)
def frame_rechecked(
    context: dg.AssetCheckExecutionContext,
    warehouse: WarehouseResource,
    ipfs: IpfsResource,
) -> dg.AssetCheckResult:
    from veriframe_core.frames import FrameRejected, check_frame  # loaded in runs only
    from veriframe_core.ipfs import IpfsError

    job_id = int(context.partition_key)
    delivered = _delivered(context, warehouse)
    if delivered is None:
        return dg.AssetCheckResult(passed=False, description=f"job {job_id} has no delivery")
    with (
        tempfile.TemporaryDirectory() as scratch,
        ipfs.client(max_download_bytes=512 * 1024**2) as client,
    ):
        path = Path(scratch) / "frame"
        try:
            client.download(delivered.result_cid, path)
            frame = check_frame(path, delivered.width, delivered.height)
        except (IpfsError, FrameRejected) as err:
            return dg.AssetCheckResult(
                passed=False,
                description=f"{delivered.result_cid}: {err}",
                metadata={"result_cid": delivered.result_cid},
            )
    return dg.AssetCheckResult(
        passed=True,
        metadata={
            "result_cid": delivered.result_cid,
            "width": frame.width,
            "height": frame.height,
            "format": frame.format,
            "size_bytes": frame.size_bytes,
        },
    )


@dg.asset_check(
    asset=RENDER_KEY,
    name="frame_verified",
    partitions_def=RENDER_PARTITIONS,
    blocking=True,
    description="A verifier re-rendered crops of the delivered frame and found it consistent "
    "with an honest render of the job (its noise, colours and content); the materialization "
    "has the scores and the crops compared.",
)
def frame_verified(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
) -> dg.AssetCheckResult:
    job_id = int(context.partition_key)
    delivered = _delivered(context, warehouse)
    if delivered is None or delivered.verification_id is None:
        return dg.AssetCheckResult(passed=False, description=f"job {job_id} has no verification")
    metadata = {"verification": delivered.verification_id, "verdict": delivered.verdict}
    if delivered.verdict == "verified":
        return dg.AssetCheckResult(passed=True, metadata=metadata)
    reasons = (delivered.report or {}).get("reasons") or [f"it is {delivered.verdict}"]
    return dg.AssetCheckResult(
        passed=False, description="; ".join(reasons)[:1000], metadata=metadata
    )
