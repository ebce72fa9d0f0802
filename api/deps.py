"""What every route needs: the warehouse engine, paging, rows as plain values."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import Depends, Query, Request

from veriframe_dagster.settings import Settings

MAX_PAGE = 500


def get_engine(request: Request) -> sa.Engine:
    return request.app.state.engine


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


@dataclass(frozen=True)
class Paging:
    limit: int
    offset: int

    def page(self, items: Sequence[Any]) -> dict[str, Any]:
        """A page from `limit + 1` fetched rows (the extra one says whether more follow)."""
        more = len(items) > self.limit
        return {
            "items": list(items[: self.limit]),
            "limit": self.limit,
            "offset": self.offset,
            "next_offset": self.offset + self.limit if more else None,
        }

    def apply(self, query: sa.Select) -> sa.Select:
        return query.limit(self.limit + 1).offset(self.offset)


def paging(
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="page size")] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000, description="rows to skip")] = 0,
) -> Paging:
    return Paging(limit, offset)


Engine = Annotated[sa.Engine, Depends(get_engine)]
Pages = Annotated[Paging, Depends(paging)]


def plain(row: sa.Row) -> dict[str, Any]:
    """A row with NUMERIC values as decimal text (u256 and felts do not fit JSON numbers)."""
    return {k: str(v) if isinstance(v, Decimal) else v for k, v in row._mapping.items()}


def fetch(engine: sa.Engine, query: sa.Select) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [plain(r) for r in conn.execute(query)]
