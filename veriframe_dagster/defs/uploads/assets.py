"""`asset_uploads` as an asset: each materialization is a sweep that unpins the uploads no
job used within the grace period, and says how many and how many bytes (the UI plots both,
and what stays pinned, sweep after sweep).

The API writes the rows (`POST /api/v1/assets`); the sweep only marks them (`unpinned_at`),
so the table keeps the history operators and the daily budget read. Its check names the
jobs waiting on a scene the sweep dropped: creators posting later than the grace allows.
"""

import dagster as dg
import sqlalchemy as sa

from veriframe_core.warehouse import tables
from veriframe_dagster.defs.chain.assets import column_schema, table_key
from veriframe_dagster.defs.uploads.unused import Swept, unpin_unused, unused
from veriframe_dagster.resources import IpfsResource, UploadsResource, WarehouseResource

GROUP = "uploads"
UPLOADS_KEY = table_key("asset_uploads")
STILL_PINNED = sa.text(
    """SELECT count(*) AS cids, coalesce(sum(size), 0) AS size
       FROM (SELECT DISTINCT ON (cid) cid, size FROM asset_uploads
             WHERE unpinned_at IS NULL) pinned"""
)


@dg.asset(
    key=UPLOADS_KEY,
    group_name=GROUP,
    kinds={"postgres", "ipfs"},
    description="Scenes uploaded through POST /api/v1/assets (who, CID, size, when; written by "
    "the API). Materializing it sweeps them: what no job used within "
    "VERIFRAME_ASSET_UNUSED_GRACE_S of its latest upload is unpinned from the platform's IPFS "
    "node and marked `unpinned_at`.",
    metadata={
        "dagster/table_name": "public.asset_uploads",
        "dagster/column_schema": column_schema(tables.asset_uploads),
    },
)
def asset_uploads(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    ipfs: IpfsResource,
    uploads: UploadsResource,
) -> dg.MaterializeResult:
    from veriframe_core.ipfs import IpfsError  # loaded in runs only

    engine, swept = warehouse.engine(), Swept()
    with engine.connect() as conn:
        due = unused(conn, uploads.unused_grace_s)
    context.log.info(f"Uploads sweep: {len(due)} CIDs unused for their grace period")
    try:
        with ipfs.client() as client:
            unpin_unused(engine, client, due, uploads.unused_grace_s, context.log.info, swept)
    except IpfsError as err:
        raise dg.Failure(
            f"Uploads sweep stopped after {swept.cids} of {len(due)} CIDs: {err}",
            metadata=_metadata(engine, swept),
        ) from None
    return dg.MaterializeResult(metadata=_metadata(engine, swept))


def _metadata(engine: sa.Engine, swept: Swept) -> dict[str, int]:
    with engine.connect() as conn:
        pinned = conn.execute(STILL_PINNED).one()
    return {
        "unpinned_cids": swept.cids,
        "unpinned_uploads": swept.uploads,
        "bytes_freed": swept.bytes_freed,
        "pinned_again": swept.pinned_again,
        "still_pinned_cids": pinned.cids,
        "still_pinned_bytes": int(pinned.size),
    }


WAITING_ON_SWEPT = sa.text(
    """
    SELECT j.job_id, j.asset_cid FROM jobs j
    JOIN (SELECT cid FROM asset_uploads GROUP BY cid
          HAVING bool_and(unpinned_at IS NOT NULL)) swept ON swept.cid = j.asset_cid
    WHERE j.status IN ('open', 'assigned') ORDER BY j.job_id
    """
)


@dg.asset_check(
    asset=UPLOADS_KEY,
    name="no_open_job_lost_its_scene",
    description="No open or assigned job's scene is one the sweep unpinned (and nobody "
    "uploaded again): workers may fail to fetch it unless the creator's own node serves it. "
    "Jobs here were posted later than VERIFRAME_ASSET_UNUSED_GRACE_S allows.",
)
def no_open_job_lost_its_scene(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    with warehouse.engine().connect() as conn:
        jobs = conn.execute(WAITING_ON_SWEPT).all()
    return dg.AssetCheckResult(
        passed=not jobs,
        severity=dg.AssetCheckSeverity.WARN,
        description=f"{len(jobs)} open jobs whose scene was unpinned",
        metadata={
            "jobs": dg.MetadataValue.json([{"job_id": int(j), "cid": c} for j, c in jobs[:20]])
        },
    )
