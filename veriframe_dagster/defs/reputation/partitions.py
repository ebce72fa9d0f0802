"""The UTC days the daily tables are partitioned by.

They start at `reputation_first_day` (a setting: the JobRegistry's deployment day, known to
the operator, not to the code at load time). `end_offset=1`: today's partition exists while
the day runs, so the current day is kept up to date through the day instead of appearing only
once it is over.
"""

from __future__ import annotations

import datetime as dt
from functools import cache

import dagster as dg


@cache
def daily_partitions(first_day: str) -> dg.DailyPartitionsDefinition:
    """The daily partitions from `first_day` (YYYY-MM-DD, UTC) to today."""
    return dg.DailyPartitionsDefinition(start_date=first_day, timezone="UTC", end_offset=1)


def day_range(window: dg.TimeWindow) -> tuple[dt.date, dt.date]:
    """The first and last UTC day of a partition time window (its end is exclusive)."""
    first = window.start.astimezone(dt.UTC).date()
    last = (window.end.astimezone(dt.UTC) - dt.timedelta(days=1)).date()
    return first, last


def keys_between(
    partitions: dg.DailyPartitionsDefinition, first: dt.date, last: dt.date
) -> list[str]:
    """The partition keys of the days `first`..`last` that exist now (clipped to the range of
    partitions; the current time is Dagster's, or a `partition_loading_context`'s)."""
    lowest = partitions.start.astimezone(dt.UTC).date()
    newest = partitions.get_last_partition_key()
    highest = dt.date.fromisoformat(newest) if newest else lowest - dt.timedelta(days=1)
    first, last = max(first, lowest), min(last, highest)
    return [
        (first + dt.timedelta(days=n)).isoformat() for n in range(max((last - first).days + 1, 0))
    ]
