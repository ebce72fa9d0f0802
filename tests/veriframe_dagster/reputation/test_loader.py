"""The data team's loader: any analytics table as a DataFrame with exact amounts and the
right types; and plain `pd.read_sql`, as the README shows it, keeps amounts exact too."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pandas as pd
import pytest
import sqlalchemy as sa

from tests.veriframe_dagster.reputation.history import Ledger
from veriframe_core.warehouse.analytics import TABLES, load_table


def paid_to(ledger: Ledger) -> dict[str, int]:
    paid: dict[str, int] = {}
    for job in ledger.jobs.values():
        if job.finalized_at is not None:
            paid[job.worker] = paid.get(job.worker, 0) + job.reward
    return paid


def test_loader_gives_exact_u256_sums_and_typed_columns(
    materialized: Ledger, warehouse_url: str
) -> None:
    days = load_table("worker_reputation_daily", warehouse_url)
    assert len(days) == sum(
        1 for d in materialized.days for at in materialized.registered.values() if at.date() <= d
    )
    totals = days.groupby("worker_address")["earnings"].sum()
    assert {w: int(v) for w, v in totals.items() if v} == paid_to(materialized)
    assert all(type(v) is int for v in days["earnings"])
    assert pd.api.types.is_datetime64_dtype(days["day"])
    assert str(days["reputation"].dtype) == "Int64"
    assert str(days["verified"].dtype) == "boolean"
    assert pd.isna(days["failure_rate_pct"]).any()  # nullable integers stay integers
    assert str(days["computed_at"].dtype).startswith("datetime64") and days["computed_at"].dt.tz
    assert all(isinstance(v, list) for v in days["change_reasons"])


def test_loader_filters_by_days_and_workers(materialized: Ledger, engine: sa.Engine) -> None:
    first, last = materialized.days[1], materialized.days[2]
    worker = next(iter(materialized.registered))
    frame = load_table(
        "worker_reputation_daily",
        engine,
        days=(first, last.isoformat()),
        workers=[worker.upper().replace("0X", "0x")],
    )
    assert list(frame["day"].dt.date) == [first, last]
    assert set(frame["worker_address"]) == {worker}
    card = load_table("worker_scorecard", engine, columns=["worker_address", "earnings", "rank"])
    assert list(card.columns) == ["worker_address", "earnings", "rank"]
    assert len(card) == len(materialized.registered)
    with pytest.raises(ValueError, match="has no days"):
        load_table("worker_scorecard", engine, days=(first, last))
    with pytest.raises(ValueError, match="no analytics table"):
        load_table("workers", engine)


def test_every_analytics_table_loads(materialized: Ledger, engine: sa.Engine) -> None:
    for name in TABLES:
        assert len(load_table(name, engine)) > 0


def test_read_sql_with_exact_decimals(materialized: Ledger, engine: sa.Engine) -> None:
    """What the README shows: coerce_float=False keeps NUMERIC as Decimal; summing them as
    Python ints stays exact (Decimal's default 28-digit context would round a u256)."""
    with engine.connect() as conn:
        frame = pd.read_sql(
            "SELECT day, rewards_paid FROM analytics.network_daily ORDER BY day",
            conn,
            coerce_float=False,
        )
    assert all(isinstance(v, Decimal) for v in frame["rewards_paid"])
    total = sum(int(v) for v in frame["rewards_paid"])
    assert total == sum(paid_to(materialized).values())
    assert isinstance(frame["day"][0], dt.date)
