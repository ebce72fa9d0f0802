"""How the reputation tables appear in Dagster's catalog: key, table name, column schema."""

from __future__ import annotations

from typing import Any

import dagster as dg
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from veriframe_core import analytics

GROUP = "reputation"
KEY_PREFIX = analytics.SCHEMA


def table_key(table: str) -> dg.AssetKey:
    """The asset key of an analytics table: ``analytics/<table>``."""
    return dg.AssetKey([KEY_PREFIX, table])


def column_schema(table: sa.Table) -> dg.TableSchema:
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


def table_metadata(table: str) -> dict[str, Any]:
    """The catalog metadata of `analytics.<table>`: where it lives and its columns."""
    return {
        "dagster/table_name": f"{analytics.SCHEMA}.{table}",
        "dagster/column_schema": column_schema(analytics.TABLES[table]),
    }
