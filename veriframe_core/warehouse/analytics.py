"""The reputation data product: the `analytics` schema's tables, and a loader for the data team.

The tables are written by the Dagster assets of `veriframe_dagster.defs.reputation` and read
by anyone with SQL or pandas; these definitions are the contract between the two (columns,
types, descriptions), as `tables` beside it is for the chain tables. Migration 0007 creates
them.

`load_table` returns a DataFrame with the types the columns mean: u256 amounts
(NUMERIC(78,0)) as Python ints, because pandas has no exact 78-digit type and `Decimal`
arithmetic rounds to 28 digits under the default context; days as datetime64, times in UTC.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from contextlib import ExitStack
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY

from veriframe_core.warehouse.tables import NAMING_CONVENTION, Address
from veriframe_core.warehouse.tables import Felt as Amount  # u256 amounts: NUMERIC(78,0)

if TYPE_CHECKING:
    import pandas as pd

SCHEMA = "analytics"
metadata = sa.MetaData(schema=SCHEMA, naming_convention=NAMING_CONVENTION)


def _lineage() -> list[sa.Column]:
    """What every row was computed from: the warehouse as of a block and an event id."""
    return [
        sa.Column(
            "as_of_block",
            sa.BigInteger,
            comment="the chain block the warehouse had ingested when the row was computed",
        ),
        sa.Column(
            "as_of_event_id",
            sa.BigInteger,
            nullable=False,
            comment="the highest contract_events.id the row saw (later ids: events it has not)",
        ),
        sa.Column(
            "computed_at",
            sa.DateTime(timezone=True),
            nullable=False,
            comment="when the row was computed (the warehouse's clock)",
        ),
    ]


def _int(name: str, comment: str) -> sa.Column:
    return sa.Column(name, sa.Integer, nullable=False, comment=comment)


worker_reputation_daily = sa.Table(
    "worker_reputation_daily",
    metadata,
    sa.Column("day", sa.Date, primary_key=True, comment="the UTC day"),
    sa.Column("worker_address", Address, primary_key=True),
    _int("reputation", "reputation at the end of the day (1-1000)"),
    _int(
        "reputation_change",
        "reputation at the end of the day minus at its start (500 on the day of registration)",
    ),
    _int("rating_change", "part of the change from ratings (update_worker_reputation)"),
    _int("slash_change", "part of the change from slashes"),
    _int("verification_change", "part of the change from verify_worker (true or false)"),
    _int("changes", "reputation events that day"),
    sa.Column(
        "change_reasons",
        ARRAY(sa.String(16)),
        nullable=False,
        comment="distinct reasons of the day's changes: rating, slash, verified, unverified",
    ),
    _int("jobs_completed", "ratings >= 60 that day (the contract's jobs_completed increments)"),
    _int(
        "jobs_failed", "ratings < 40 and slashes that day (the contract's jobs_failed increments)"
    ),
    _int("jobs_expired", "the worker's claims whose lease expired that day"),
    _int("attempts_failed", "the worker's render attempts reported failed that day"),
    _int("jobs_paid", "jobs finalize_job paid to the worker that day"),
    sa.Column(
        "earnings",
        Amount,
        nullable=False,
        comment="rewards paid to the worker that day, token base units (u256, exact)",
    ),
    _int("jobs_completed_total", "the contract's jobs_completed at the end of the day"),
    _int("jobs_failed_total", "the contract's jobs_failed at the end of the day"),
    sa.Column(
        "failure_rate_pct",
        sa.Integer,
        comment="failed * 100 / (completed + failed), integer division as the contract does; "
        "NULL with no rated job",
    ),
    sa.Column("verified", sa.Boolean, nullable=False, comment="verified at the end of the day"),
    sa.Column(
        "eligible_at_default",
        sa.Boolean,
        nullable=False,
        comment="is_worker_eligible at the end of the day for a job of the default minimum "
        "reputation (400): verified, reputation >= 400, failure rate rule",
    ),
    _int("deliveries_verified", "its delivered frames that verification passed that day"),
    _int("deliveries_rejected", "its delivered frames that verification rejected that day"),
    _int(
        "results_rejected_on_chain",
        "its results submitted on chain without a delivery that verification rejected that day",
    ),
    _int(
        "sanctions",
        "slashes and unverifications the operator's account sent against it that day",
    ),
    *_lineage(),
    sa.Index("ix_worker_reputation_daily_worker_address", "worker_address", "day"),
    comment="one row per registered worker and UTC day: reputation over time and why it moved",
)

worker_scorecard = sa.Table(
    "worker_scorecard",
    metadata,
    sa.Column("worker_address", Address, primary_key=True),
    sa.Column(
        "registered_at", sa.DateTime(timezone=True), nullable=False, comment="registration time"
    ),
    sa.Column("verified", sa.Boolean, nullable=False, comment="verified now"),
    _int("reputation", "current reputation (1-1000)"),
    _int("reputation_7d_ago", "reputation 7 days before as_of_time (500 if registered since)"),
    _int("trend_7d", "reputation minus reputation_7d_ago"),
    _int("reputation_30d_ago", "reputation 30 days before as_of_time (500 if registered since)"),
    _int("trend_30d", "reputation minus reputation_30d_ago"),
    _int("jobs_completed", "the contract's jobs_completed"),
    _int("jobs_failed", "the contract's jobs_failed"),
    sa.Column("failure_rate_pct", sa.Integer, comment="as in worker_reputation_daily"),
    sa.Column(
        "eligible_at_default",
        sa.Boolean,
        nullable=False,
        comment="is_worker_eligible now for a job of the default minimum reputation (400)",
    ),
    _int("attempts", "render attempts (claims) of the worker"),
    _int("attempts_completed", "attempts that delivered a result"),
    _int("attempts_failed", "attempts reported failed"),
    _int("lease_expiries", "attempts whose lease expired"),
    sa.Column(
        "success_rate",
        sa.Float,
        comment="attempts_completed / finished attempts (completed, rejected, failed, "
        "expired); NULL with none finished",
    ),
    _int("blocked_jobs", "jobs the API blocks the worker from (too many failed attempts)"),
    sa.Column("median_render_seconds", sa.Float, comment="of delivered attempts, as reported"),
    sa.Column("p95_render_seconds", sa.Float, comment="of delivered attempts, as reported"),
    sa.Column("median_seconds_to_claim", sa.Float, comment="job creation to the worker's claim"),
    sa.Column("p95_seconds_to_claim", sa.Float, comment="job creation to the worker's claim"),
    sa.Column(
        "largest_frame_pixels", sa.BigInteger, comment="width * height of its largest delivery"
    ),
    sa.Column(
        "devices",
        ARRAY(sa.String(16)),
        nullable=False,
        comment="devices its delivered renders ran on (OPTIX, CUDA, HIP, ONEAPI, METAL, CPU)",
    ),
    _int("jobs_paid", "jobs finalize_job paid to the worker"),
    sa.Column(
        "earnings",
        Amount,
        nullable=False,
        comment="rewards paid to the worker, token base units (u256, exact)",
    ),
    _int("deliveries_verified", "its delivered frames that verification passed"),
    _int("deliveries_rejected", "its delivered frames that verification rejected"),
    _int(
        "results_rejected_on_chain",
        "its results submitted on chain without a delivery (around the API, or ahead of the "
        "worker holding the claim) that verification rejected",
    ),
    _int("sanctions", "slashes and unverifications the operator's account sent against it"),
    _int(
        "rank",
        "1 = best: by reputation, then lower failure rate, then success rate, then earnings",
    ),
    sa.Column(
        "as_of_time",
        sa.DateTime(timezone=True),
        comment="the chain time of as_of_block: the trends' reference time",
    ),
    *_lineage(),
    comment="one row per registered worker: can we trust it, and with what",
)

network_daily = sa.Table(
    "network_daily",
    metadata,
    sa.Column("day", sa.Date, primary_key=True, comment="the UTC day"),
    _int("jobs_created", "JobCreated"),
    _int("jobs_claimed", "jobs claimed for the first time (the API's claims)"),
    _int("jobs_completed", "results submitted on chain (ResultSubmitted)"),
    _int("jobs_finalized", "jobs paid (JobFinalized)"),
    _int("jobs_expired", "jobs whose deadline passed that day with no result"),
    sa.Column(
        "rewards_escrowed",
        Amount,
        nullable=False,
        comment="rewards of the jobs created that day (u256, exact)",
    ),
    sa.Column(
        "rewards_paid",
        Amount,
        nullable=False,
        comment="rewards paid by finalize_job that day (u256, exact)",
    ),
    _int("active_workers", "workers that claimed a job or submitted a result that day"),
    _int("verified_workers", "workers verified at the end of the day"),
    _int("registered_workers", "workers registered by the end of the day"),
    sa.Column(
        "median_seconds_to_claim",
        sa.Float,
        comment="job creation to first claim, of the jobs first claimed that day",
    ),
    sa.Column(
        "median_seconds_to_result",
        sa.Float,
        comment="job creation to ResultSubmitted, of the results submitted that day",
    ),
    sa.Column(
        "median_seconds_to_payment",
        sa.Float,
        comment="job creation to JobFinalized, of the jobs paid that day",
    ),
    _int("deliveries_verified", "delivered frames that verification passed that day"),
    _int("deliveries_rejected", "delivered frames that verification rejected that day"),
    _int(
        "results_rejected_on_chain",
        "results submitted on chain without a delivery (around the API, or ahead of the worker "
        "holding the claim) that verification rejected that day",
    ),
    _int("sanctions", "slashes and unverifications the operator's account sent that day"),
    sa.Column(
        "median_seconds_to_verdict",
        sa.Float,
        comment="delivery to verdict, of the deliveries whose verification was decided that day",
    ),
    *_lineage(),
    comment="one row per UTC day: the marketplace's flow of jobs, money and workers",
)

TABLES: dict[str, sa.Table] = {t.name: t for t in metadata.sorted_tables}


# ------------------------------------------------------------------------------ pandas
def _pandas_type(column: sa.Column) -> str | None:
    """The pandas dtype of a column (None: keep what the driver gives, converted below)."""
    kind = column.type
    if isinstance(kind, sa.Numeric) and not isinstance(kind, sa.Float):
        return None  # exact ints, converted by _exact_ints
    if isinstance(kind, sa.Boolean):
        return "boolean"
    if isinstance(kind, sa.BigInteger | sa.Integer):
        return "Int64"
    if isinstance(kind, sa.Float):
        return "float64"
    if isinstance(kind, sa.String):
        return "string"
    return None


def _exact_ints(values: pd.Series) -> pd.Series:
    return values.map(lambda v: None if v is None else int(v)).astype(object)


def load_table(
    table: str,
    bind: sa.Engine | sa.Connection | str,
    *,
    days: tuple[dt.date | str, dt.date | str] | None = None,
    workers: Iterable[str] | None = None,
    columns: Iterable[str] | None = None,
) -> pd.DataFrame:
    """One analytics table as a DataFrame with the right types.

    `days` (first, last; inclusive) filters the daily tables, `workers` the worker tables;
    `bind` is an engine, a connection or a database URL. u256 amounts come as Python ints
    (exact: `df.earnings.sum()` is the exact total), integers as nullable Int64, days as
    datetime64, times as UTC datetimes, arrays as lists.
    """
    import pandas as pd

    if table not in TABLES:
        raise ValueError(f"no analytics table {table!r}; the tables are {', '.join(TABLES)}")
    t = TABLES[table]
    selected = [t.c[c] for c in columns] if columns is not None else list(t.columns)
    query = sa.select(*selected)
    if days is not None:
        if "day" not in t.c:
            raise ValueError(f"{table} has no days; filter it by workers")
        first, last = (dt.date.fromisoformat(str(d)) for d in days)
        query = query.where(t.c.day.between(first, last))
    if workers is not None:
        if "worker_address" not in t.c:
            raise ValueError(f"{table} has no workers; filter it by days")
        from veriframe_core.chain.addresses import normalize_address

        query = query.where(t.c.worker_address.in_([normalize_address(w) for w in workers]))
    query = query.order_by(*t.primary_key.columns)
    with ExitStack() as stack:
        if isinstance(bind, sa.Connection):
            conn = bind
        else:
            from veriframe_core.warehouse.engine import make_engine  # starts nothing

            engine = make_engine(bind) if isinstance(bind, str) else bind
            if isinstance(bind, str):
                stack.callback(engine.dispose)
            conn = stack.enter_context(engine.connect())
        frame = pd.read_sql(query, conn, coerce_float=False)
    return _typed(frame, t)


def _typed(frame: pd.DataFrame, table: sa.Table) -> pd.DataFrame:
    import pandas as pd

    for name in frame.columns:
        column = table.c[name]
        if isinstance(column.type, sa.Date):
            frame[name] = pd.to_datetime(frame[name])
        elif isinstance(column.type, sa.DateTime):
            frame[name] = pd.to_datetime(frame[name], utc=True)
        elif (dtype := _pandas_type(column)) is not None:
            frame[name] = frame[name].astype(dtype)
        elif isinstance(column.type, sa.Numeric):
            frame[name] = _exact_ints(frame[name])
    return frame
