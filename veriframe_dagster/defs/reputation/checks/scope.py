"""What the reputation checks share: what a check covers, its SQL rows, and its result."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import dagster as dg
import sqlalchemy as sa

from veriframe_dagster.defs.chain.checks.snapshot import SAMPLE_LIMIT
from veriframe_dagster.defs.reputation.sql.common import window


@dataclass(frozen=True)
class Scope:
    """What one evaluation checks: the days `first`..`last` (the daily tables), the
    freshness lag, and the API's blocking threshold."""

    first: dt.date | None = None
    last: dt.date | None = None
    lag_s: float = 0.0

    def window(self) -> dict[str, Any]:
        """SQL parameters of the days: the days and the range as UTC instants [t0, t1)."""
        assert self.first is not None and self.last is not None
        return window(self.first, self.last)

    @property
    def days(self) -> str:
        return f"{self.first}..{self.last}"


@dataclass(frozen=True)
class Check:
    """One check of a table: evaluated in the asset's step, on the asset's connection (right
    after the write, in its transaction), or alone in a checks-only run."""

    table: str
    name: str
    description: str
    evaluate: Callable[[sa.Connection, Scope], dg.AssetCheckResult]

    def spec(self, key: dg.AssetKey) -> dg.AssetCheckSpec:
        return dg.AssetCheckSpec(self.name, asset=key, description=self.description)


def rows(conn: sa.Connection, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {k: _plain(v) for k, v in r._mapping.items()} for r in conn.execute(sa.text(sql), params)
    ]


def _plain(value: Any) -> Any:
    """A value JSON metadata can hold (days as text, exact amounts as text)."""
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def result(found: list[dict[str, Any]], description: str, **metadata: Any) -> dg.AssetCheckResult:
    """Passed when nothing was found; the first findings in the metadata."""
    return dg.AssetCheckResult(
        passed=not found,
        description=description,
        metadata={
            "found": len(found),
            "examples": dg.MetadataValue.json(found[:SAMPLE_LIMIT]),
            **metadata,
        },
    )
