"""The warehouse tables chain ingestion writes, as external assets.

Nothing in Dagster computes them: the chain sensor writes them and reports runless
materializations, so they are `AssetSpec`s (no run, no I/O manager), with the table's
columns attached for the catalog.
"""

from __future__ import annotations

import dagster as dg
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from veriframe_core.warehouse import tables

GROUP = "chain"
KEY_PREFIX = "warehouse"

DESCRIPTIONS = {
    "contract_events": "Every JobRegistry event, raw and decoded, one row per "
    "(block_hash, transaction_index, event_index); the source the other tables are folded from.",
    "workers": "Workers as the contract sees them (registration, verification, reputation, "
    "completed and failed jobs, earnings) plus the off-chain profile the API writes.",
    "jobs": "Render jobs by chain job id: creator, asset CID, reward, deadline, minimum "
    "reputation, status, worker and result CID, with the block and transaction of each change.",
    "reputation_history": "Every reputation change of a worker (verification, rating, slash) "
    "with the event it comes from.",
}


def table_key(table: str) -> dg.AssetKey:
    """The asset key of a warehouse table: ``warehouse/<table>``."""
    return dg.AssetKey([KEY_PREFIX, table])


def column_schema(table: sa.Table) -> dg.TableSchema:
    """A table's columns as the catalog shows them (types as Postgres names them)."""
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                name=column.name,
                type=column.type.compile(dialect=postgresql.dialect()),
                description=column.comment,
                constraints=dg.TableColumnConstraints(nullable=bool(column.nullable)),
            )
            for column in table.columns
        ]
    )


def _spec(table: str) -> dg.AssetSpec:
    return dg.AssetSpec(
        key=table_key(table),
        description=DESCRIPTIONS[table],
        group_name=GROUP,
        kinds={"postgres"},
        metadata={
            "dagster/table_name": f"public.{table}",
            "dagster/column_schema": column_schema(tables.metadata.tables[table]),
        },
    )


TABLES = tuple(DESCRIPTIONS)
CHAIN_TABLES: list[dg.AssetSpec] = [_spec(t) for t in TABLES]
