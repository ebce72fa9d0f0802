"""Rows as plain values for JSON: what the read routes and the change feed send."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import sqlalchemy as sa


def plain(row: sa.Row) -> dict[str, Any]:
    """A row with NUMERIC values as decimal text (u256 and felts do not fit JSON numbers)."""
    return {k: str(v) if isinstance(v, Decimal) else v for k, v in row._mapping.items()}


def fetch(engine: sa.Engine, query: sa.Select) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [plain(r) for r in conn.execute(query)]
