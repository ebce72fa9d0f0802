"""How the reputation tables appear in Dagster's catalog: key, table name, column schema."""

from __future__ import annotations

from typing import Any

import dagster as dg

from veriframe_core.warehouse import analytics
from veriframe_dagster.defs.chain.assets import column_schema

GROUP = "reputation"
KEY_PREFIX = analytics.SCHEMA


def table_key(table: str) -> dg.AssetKey:
    """The asset key of an analytics table: ``analytics/<table>``."""
    return dg.AssetKey([KEY_PREFIX, table])


def table_metadata(table: str) -> dict[str, Any]:
    """The catalog metadata of `analytics.<table>`: where it lives and its columns."""
    return {
        "dagster/table_name": f"{analytics.SCHEMA}.{table}",
        "dagster/column_schema": column_schema(analytics.TABLES[table]),
    }
