"""Which uploads no job used, from the warehouse, and their unpinning.

An upload is unused when no job names its CID (as its scene, or as any result, noisy pass or
comparison the platform pinned itself: a creator could upload a delivered frame's bytes, and
Kubo holds one pin per CID), no worker's profile is at it (the chain keeps a profile CID's
first 31 characters: a profile's JSON is easy to guess, and uploading the same bytes must not
let the sweep unpin it), and nobody uploaded the same bytes again within the grace period.
Only CIDs recorded in `asset_uploads` are ever considered: frames, noisy passes and the demo
scene are pinned by other code.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa

from veriframe_core.chain.cids import cid_to_felts

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
    WHERE cid = ANY(:cids) AND unpinned_at IS NULL
      AND cid IN (SELECT cid FROM ({UNUSED}) still WHERE still.cid = ANY(:cids))
    RETURNING cid
    """
)
"""Marks the uploads of those CIDs still unused: a job indexed, or the same bytes uploaded
again, while they were being unpinned makes a CID wanted again."""
BATCH = 100
"""CIDs unpinned, then marked in one statement: whether they are still unused is read from
every job, attempt and verification (0.1-0.2 s at 100,000 jobs), once per batch."""


@dataclass
class Swept:
    """What one sweep did: CIDs (and the uploads recording them) unpinned, their bytes,
    and CIDs pinned again because they were wanted again while being unpinned."""

    cids: int = 0
    uploads: int = 0
    bytes_freed: int = 0
    pinned_again: int = 0


PROFILES = sa.text("SELECT info_cid FROM workers WHERE info_cid IS NOT NULL")


def unused(conn: sa.Connection, grace_s: float) -> list[sa.Row]:
    """The CIDs to unpin (cid, size, uploads), the longest unused first."""
    profiles = {int(felt) for felt in conn.execute(PROFILES).scalars()}
    due = conn.execute(DUE, {"grace_s": grace_s}).all()
    return [row for row in due if cid_to_felts(row.cid)[0] not in profiles]


def unpin_unused(
    engine: sa.Engine,
    ipfs: IpfsClient,
    rows: list[sa.Row],
    grace_s: float,
    log: Callable[[str], None],
    swept: Swept,
) -> None:
    """Unpin the CIDs of `rows` and mark their uploads, a batch at a time, into `swept`.

    Uploads are marked only once the node unpinned their CID: an IpfsError stops the sweep
    there, what was unpinned before it marked, the rest left for the next sweep."""
    for start in range(0, len(rows), BATCH):
        unpinned: list[sa.Row] = []
        try:
            for row in rows[start : start + BATCH]:
                ipfs.unpin(row.cid)
                unpinned.append(row)
        finally:
            _mark(engine, ipfs, unpinned, grace_s, log, swept)


def _mark(
    engine: sa.Engine,
    ipfs: IpfsClient,
    unpinned: list[sa.Row],
    grace_s: float,
    log: Callable[[str], None],
    swept: Swept,
) -> None:
    """Mark the uploads of the CIDs `unpinned` that are still unused; pin the others again."""
    if not unpinned:
        return
    with engine.begin() as conn:
        params = {"cids": [row.cid for row in unpinned], "grace_s": grace_s}
        marked = Counter(conn.execute(MARK, params).scalars())
    for row in unpinned:
        if row.cid not in marked:
            ipfs.pin(row.cid)
            swept.pinned_again += 1
            log(f"Uploads sweep: {row.cid} was used or uploaded again meanwhile: pinned again")
            continue
        swept.cids += 1
        swept.uploads += marked[row.cid]
        swept.bytes_freed += row.size
        log(f"Uploads sweep: unpinned {row.cid} ({row.size:,} bytes, {marked[row.cid]} uploads)")
