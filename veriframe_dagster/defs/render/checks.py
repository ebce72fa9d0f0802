"""The check on every `render` partition: the frame is downloaded again from IPFS and
re-checked (it decodes, has the job's resolution, is not blank), never trusting what the
worker reported about it."""

import tempfile
from pathlib import Path

import dagster as dg
import sqlalchemy as sa

from veriframe_dagster.defs.render.assets import RENDER_KEY
from veriframe_dagster.defs.render.partitions import RENDER_PARTITIONS
from veriframe_dagster.resources import IpfsResource, WarehouseResource

DELIVERED = sa.text(
    """
    SELECT a.result_cid, coalesce(s.resolution_x, 1920) AS width,
           coalesce(s.resolution_y, 1080) AS height
    FROM job_attempts a JOIN jobs j ON j.job_id = a.job_id
    LEFT JOIN job_render_settings s ON s.job_id = j.job_id AND s.created_tx = j.created_tx
    WHERE a.job_id = :job_id AND a.state IN ('completed', 'verifying', 'verified')
    """
)


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
    with warehouse.engine().connect() as conn:
        delivered = conn.execute(DELIVERED, {"job_id": job_id}).first()
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
