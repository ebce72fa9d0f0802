"""Which uploads no job used, from the warehouse, and their unpinning.

An upload is unused when no job names its CID (as its scene, or as any result, noisy pass or
comparison the platform pinned itself: a creator could upload a delivered frame's bytes, and
Kubo holds one pin per CID) and nobody uploaded the same bytes again within the grace period.
Only CIDs recorded in `asset_uploads` are ever considered: frames, noisy passes and the demo
scene are pinned by other code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa

if TYPE_CHECKING:
    from veriframe_core.ipfs import IpfsClient

UNUSED = """
    WITH used(cid) AS (
        SELECT asset_cid FROM jobs UNION ALL SELECT result_cid FROM jobs
        UNION ALL SELECT result_cid FROM job_attempts
        UNION ALL SELECT result_cid FROM verifications
        UNION ALL SELECT noisy_cid FROM verifications
        UNION ALL SELECT report->>'comparison_cid' FROM verifications)
    SELECT p.cid, p.size, p.uploads, p.latest
    FROM (SELECT cid, max(size) AS size, count(*) AS uploads, max(uploaded_at) AS latest
          FROM asset_uploads WHERE unpinned_at IS NULL GROUP BY cid) p
    WHERE p.latest <= now() - make_interval(secs => :grace_s)
      AND NOT EXISTS (SELECT 1 FROM used WHERE used.cid = p.cid)
"""
DUE = sa.text(UNUSED + "ORDER BY p.latest, p.cid")
MARK = sa.text(
    f"""
    UPDATE asset_uploads SET unpinned_at = now()
    WHERE cid = :cid AND unpinned_at IS NULL
      AND EXISTS (SELECT 1 FROM ({UNUSED}) still WHERE still.cid = :cid)
    """
)
"""Marks a CID's uploads unpinned if it is still unused: a job indexed, or the same bytes
uploaded again, while it was being unpinned makes it wanted again."""


@dataclass
class Swept:
    """What one sweep did: CIDs (and the uploads recording them) unpinned, their bytes,
    and CIDs pinned again because they were wanted again while being unpinned."""

    cids: int = 0
    uploads: int = 0
    bytes_freed: int = 0
    pinned_again: int = 0


def unused(conn: sa.Connection, grace_s: float) -> list[sa.Row]:
    """The CIDs to unpin (cid, size, uploads), the longest unused first."""
    return conn.execute(DUE, {"grace_s": grace_s}).all()


def unpin_unused(
    engine: sa.Engine,
    ipfs: IpfsClient,
    rows: list[sa.Row],
    grace_s: float,
    log: Callable[[str], None],
    swept: Swept,
) -> None:
    """Unpin each CID of `rows` and mark its uploads, one CID at a time, into `swept`.

    A CID is marked only after the node unpinned it (an IpfsError stops the sweep there,
    the CID unmarked, to be tried at the next one); one wanted again meanwhile is pinned
    again and left unmarked."""
    for row in rows:
        ipfs.unpin(row.cid)
        with engine.begin() as conn:
            marked = conn.execute(MARK, {"cid": row.cid, "grace_s": grace_s}).rowcount
        if not marked:
            ipfs.pin(row.cid)
            swept.pinned_again += 1
            log(f"Uploads sweep: {row.cid} was used or uploaded again meanwhile: pinned again")
            continue
        swept.cids += 1
        swept.uploads += marked
        swept.bytes_freed += row.size
        log(f"Uploads sweep: unpinned {row.cid} ({row.size:,} bytes, {marked} uploads)")
