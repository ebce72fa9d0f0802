"""Sync freshness of every chain table: head lag in blocks and in chain seconds."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import dagster as dg
import sqlalchemy as sa

from veriframe_dagster.defs.chain.assets import TABLES, table_key
from veriframe_dagster.defs.chain.checks.snapshot import chain_reader, read_cursor, snapshot
from veriframe_dagster.resources import ChainChecksResource, ChainResource, WarehouseResource

if TYPE_CHECKING:
    from veriframe_core.chain.views import ChainReader


def measure_lag(
    conn: sa.Connection, reader: ChainReader, contract: str, start_block: int
) -> dict[str, Any]:
    """Head lag of the warehouse: blocks and chain seconds between its cursor and the head
    (with nothing ingested yet: from the start block, as the ingestion counts it)."""
    cursor = read_cursor(conn, contract)
    head = reader.head()
    since = cursor.block_number if cursor else start_block
    lag_blocks = max(head - cursor.block_number if cursor else head - start_block + 1, 0)
    seconds = 0.0
    if lag_blocks and since <= head:
        headers = reader.headers([since, head])
        seconds = float(headers[head].timestamp - headers[since].timestamp)
    return {
        "cursor_block": cursor.block_number if cursor else None,
        "head": head,
        "lag_blocks": lag_blocks,
        "lag_seconds": seconds,
    }


@dg.multi_asset_check(
    name="chain_sync_freshness",
    specs=[
        dg.AssetCheckSpec(
            "in_sync_with_chain",
            asset=table_key(t),
            description="The warehouse trails the chain head by at most the configured "
            "blocks and chain seconds (settings chain_fresh_max_lag_*).",
        )
        for t in TABLES
    ],
)
def chain_sync_freshness(
    warehouse: WarehouseResource, chain: ChainResource, chain_checks: ChainChecksResource
) -> Iterator[dg.AssetCheckResult]:
    reader, contract, start_block = chain_reader(chain)
    with snapshot(warehouse) as conn:
        lag = measure_lag(conn, reader, contract, start_block)
    passed = lag["lag_blocks"] <= chain_checks.max_lag_blocks and (
        lag["lag_seconds"] <= chain_checks.max_lag_s
    )
    metadata = {
        **lag,
        "max_lag_blocks": chain_checks.max_lag_blocks,
        "max_lag_seconds": chain_checks.max_lag_s,
    }
    description = (
        f"block {lag['cursor_block']} of {lag['head']}: {lag['lag_blocks']} blocks and "
        f"{lag['lag_seconds']:.0f} chain seconds behind"
    )
    for table in TABLES:
        yield dg.AssetCheckResult(
            asset_key=table_key(table),
            check_name="in_sync_with_chain",
            passed=passed,
            description=description,
            metadata=metadata,
        )
