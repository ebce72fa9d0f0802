"""What the reputation checks share: the days a check covers, a snapshot, and results."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import dagster as dg
import sqlalchemy as sa

from veriframe_dagster.defs.chain.checks.snapshot import SAMPLE_LIMIT, snapshot
from veriframe_dagster.defs.reputation.partitions import day_range

__all__ = ["SAMPLE_LIMIT", "days_checked", "result", "rows", "snapshot", "window_params"]


def days_checked(context: dg.AssetCheckExecutionContext) -> tuple[dt.date, dt.date]:
    """The days of the partitions this check runs for (one day, or a backfill's range)."""
    return day_range(context.partition_time_window)


def window_params(first: dt.date, last: dt.date) -> dict[str, Any]:
    """SQL parameters of a range of days: the days and the range as UTC instants [t0, t1)."""
    t0 = dt.datetime.combine(first, dt.time(), tzinfo=dt.UTC)
    t1 = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    return {"first": first, "last": last, "t0": t0, "t1": t1}


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
