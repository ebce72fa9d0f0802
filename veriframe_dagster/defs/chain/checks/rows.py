"""Row consistency inside the warehouse: reputation history vs workers, events vs cursor."""

from __future__ import annotations

import dagster as dg
import sqlalchemy as sa

from veriframe_dagster.defs.chain.assets import table_key
from veriframe_dagster.defs.chain.checks.snapshot import SAMPLE_LIMIT, read_cursor, snapshot
from veriframe_dagster.resources import ChainResource, WarehouseResource

ORPHAN_HISTORY_SQL = """
SELECT h.worker_address, count(*) AS changes FROM reputation_history h
LEFT JOIN workers w ON w.address = h.worker_address
WHERE w.address IS NULL GROUP BY h.worker_address ORDER BY h.worker_address
"""
STALE_REPUTATION_SQL = """
SELECT last.worker_address, last.new_reputation, w.reputation
FROM (
    SELECT DISTINCT ON (worker_address) worker_address, new_reputation
    FROM reputation_history
    ORDER BY worker_address, block_number DESC, transaction_index DESC, event_index DESC
) AS last
JOIN workers w ON w.address = last.worker_address
WHERE w.reputation <> last.new_reputation ORDER BY last.worker_address
"""


@dg.asset_check(
    asset=table_key("reputation_history"),
    name="consistent_with_workers",
    description="Every reputation change belongs to a worker in `workers`, and each worker's "
    "reputation is the new value of its latest change.",
)
def history_consistent_with_workers(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    with snapshot(warehouse) as conn:
        orphans = [dict(r._mapping) for r in conn.execute(sa.text(ORPHAN_HISTORY_SQL))]
        stale = [dict(r._mapping) for r in conn.execute(sa.text(STALE_REPUTATION_SQL))]
    return dg.AssetCheckResult(
        passed=not orphans and not stale,
        description=f"{len(orphans)} unknown workers in the history, {len(stale)} workers whose "
        "reputation is not their latest change's",
        metadata={
            "unknown_workers": len(orphans),
            "stale_reputations": len(stale),
            "examples": dg.MetadataValue.json(
                {"unknown": orphans[:SAMPLE_LIMIT], "stale": stale[:SAMPLE_LIMIT]}
            ),
        },
    )


EVENTS_BEYOND_CURSOR_SQL = """
SELECT count(*) FROM contract_events WHERE contract_address = :c AND block_number > :n
"""
EVENTS_OFF_BLOCK_SQL = """
SELECT e.block_number, e.block_hash AS event_block_hash, b.block_hash AS recorded_block_hash,
       count(*) AS events
FROM contract_events e JOIN chain_blocks b ON b.block_number = e.block_number
WHERE e.contract_address = :c AND e.block_hash <> b.block_hash
GROUP BY e.block_number, e.block_hash, b.block_hash ORDER BY e.block_number
"""


@dg.asset_check(
    asset=table_key("contract_events"),
    name="consistent_with_cursor",
    description="No event lies beyond the ingestion cursor, and every event's block hash is "
    "the one recorded for its block (what a reorg rollback must guarantee).",
)
def events_consistent_with_cursor(
    warehouse: WarehouseResource, chain: ChainResource
) -> dg.AssetCheckResult:
    contract = chain.target().contract_hex
    with snapshot(warehouse) as conn:
        cursor = read_cursor(conn, contract)
        last = cursor.block_number if cursor else -1
        beyond = conn.execute(
            sa.text(EVENTS_BEYOND_CURSOR_SQL), {"c": contract, "n": last}
        ).scalar_one()
        off_block = [
            dict(r._mapping) for r in conn.execute(sa.text(EVENTS_OFF_BLOCK_SQL), {"c": contract})
        ]
    return dg.AssetCheckResult(
        passed=not beyond and not off_block,
        description=f"{beyond} events beyond cursor block {last}, {len(off_block)} blocks with "
        "events on another block hash",
        metadata={
            "cursor_block": last,
            "events_beyond_cursor": beyond,
            "blocks_with_foreign_events": len(off_block),
            "examples": dg.MetadataValue.json(off_block[:SAMPLE_LIMIT]),
        },
    )
