"""What every chain check starts from: one consistent warehouse snapshot and a chain reader.

REPEATABLE READ gives the cursor and the rows of one instant (the ingestion moves the cursor
in the same transaction as the data), so a tick running meanwhile cannot make a check fail.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import dagster as dg
import sqlalchemy as sa

from veriframe_dagster.resources import ChainResource, WarehouseResource

if TYPE_CHECKING:
    from veriframe_core.chain.views import ChainReader


SAMPLE_LIMIT = 20  # mismatches / gaps / orphans listed in a check's metadata


@dataclass(frozen=True)
class Cursor:
    block_number: int
    block_hash: str


@contextmanager
def snapshot(warehouse: WarehouseResource) -> Iterator[sa.Connection]:
    """A read-only REPEATABLE READ transaction: cursor and rows from one instant."""
    with warehouse.engine().connect() as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            conn.execute(sa.text("SET TRANSACTION READ ONLY"))
            yield conn


def read_cursor(conn: sa.Connection, contract: str) -> Cursor | None:
    row = conn.execute(
        sa.text("SELECT block_number, block_hash FROM chain_cursor WHERE contract_address = :c"),
        {"c": contract},
    ).first()
    return Cursor(row.block_number, row.block_hash) if row else None


def chain_reader(chain: ChainResource) -> tuple[ChainReader, str, int]:
    """A chain reader for the indexed contract, its normalised address and start block."""
    target = chain.target()
    return chain.reader(target), target.contract_hex, target.start_block


def cursor_gone(cursor: Cursor, err: Exception) -> dg.AssetCheckResult | None:
    """A WARN result when the cursor block left the chain (a reorg the sensor will undo)."""
    from veriframe_core.chain.rpc import BLOCK_NOT_FOUND, ChainRpcError

    if isinstance(err, ChainRpcError) and err.code == BLOCK_NOT_FOUND:
        return dg.AssetCheckResult(
            passed=False,
            severity=dg.AssetCheckSeverity.WARN,
            description=f"cursor block {cursor.block_number} ({cursor.block_hash}) is no longer "
            "on the chain; the chain sensor rolls it back on its next tick",
            metadata={"cursor_block": cursor.block_number},
        )
    return None
