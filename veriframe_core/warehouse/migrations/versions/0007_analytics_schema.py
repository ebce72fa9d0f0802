"""The reputation data product: the `analytics` schema and its three tables.

Derived from the chain tables and the render attempts by the Dagster assets of
`veriframe_dagster.defs.reputation`; read by the data team with SQL or pandas
(`veriframe_core.warehouse.analytics`). A schema of its own, so the data team can be granted read
access to it alone, and the chain tables' migrations never collide with it.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 16:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "analytics"


SOURCE_INDEXES = [
    ("ix_contract_events_block_timestamp", "contract_events", ["block_timestamp"], None),
    ("ix_jobs_created_at", "jobs", ["created_at"], None),
    ("ix_jobs_submitted_at", "jobs", ["submitted_at"], None),
    ("ix_jobs_finalized_at", "jobs", ["finalized_at"], None),
    ("ix_jobs_deadline", "jobs", ["deadline"], None),
    ("ix_reputation_history_changed_at", "reputation_history", ["changed_at"], None),
    ("ix_job_attempts_claimed_at", "job_attempts", ["claimed_at"], None),
    ("ix_job_attempts_ended_at", "job_attempts", ["ended_at"], None),
    ("ix_job_attempts_expired_lease", "job_attempts", ["lease_expires_at"], "state = 'expired'"),
]
"""What the reputation statements, checks and the activity_days sensor read by time (a day or
a range of days, the newest end)."""


def upgrade() -> None:
    for name, table, columns, where in SOURCE_INDEXES:
        op.create_index(name, table, columns, postgresql_where=sa.text(where) if where else None)
    op.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    op.create_table(
        "network_daily",
        sa.Column("day", sa.Date(), nullable=False, comment="the UTC day"),
        sa.Column("jobs_created", sa.Integer(), nullable=False, comment="JobCreated"),
        sa.Column(
            "jobs_claimed",
            sa.Integer(),
            nullable=False,
            comment="jobs claimed for the first time (the API's claims)",
        ),
        sa.Column(
            "jobs_completed",
            sa.Integer(),
            nullable=False,
            comment="results submitted on chain (ResultSubmitted)",
        ),
        sa.Column(
            "jobs_finalized", sa.Integer(), nullable=False, comment="jobs paid (JobFinalized)"
        ),
        sa.Column(
            "jobs_expired",
            sa.Integer(),
            nullable=False,
            comment="jobs whose deadline passed that day with no result",
        ),
        sa.Column(
            "rewards_escrowed",
            sa.Numeric(precision=78, scale=0),
            nullable=False,
            comment="rewards of the jobs created that day (u256, exact)",
        ),
        sa.Column(
            "rewards_paid",
            sa.Numeric(precision=78, scale=0),
            nullable=False,
            comment="rewards paid by finalize_job that day (u256, exact)",
        ),
        sa.Column(
            "active_workers",
            sa.Integer(),
            nullable=False,
            comment="workers that claimed a job or submitted a result that day",
        ),
        sa.Column(
            "verified_workers",
            sa.Integer(),
            nullable=False,
            comment="workers verified at the end of the day",
        ),
        sa.Column(
            "registered_workers",
            sa.Integer(),
            nullable=False,
            comment="workers registered by the end of the day",
        ),
        sa.Column(
            "median_seconds_to_claim",
            sa.Float(),
            nullable=True,
            comment="job creation to first claim, of the jobs first claimed that day",
        ),
        sa.Column(
            "median_seconds_to_result",
            sa.Float(),
            nullable=True,
            comment="job creation to ResultSubmitted, of the results submitted that day",
        ),
        sa.Column(
            "median_seconds_to_payment",
            sa.Float(),
            nullable=True,
            comment="job creation to JobFinalized, of the jobs paid that day",
        ),
        sa.Column(
            "as_of_block",
            sa.BigInteger(),
            nullable=True,
            comment="the chain block the warehouse had ingested when the row was computed",
        ),
        sa.Column(
            "as_of_event_id",
            sa.BigInteger(),
            nullable=False,
            comment="the highest contract_events.id the row saw (later ids: events it has not)",
        ),
        sa.Column(
            "computed_at",
            sa.DateTime(timezone=True),
            nullable=False,
            comment="when the row was computed (the warehouse's clock)",
        ),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_network_daily")),
        schema=SCHEMA,
        comment="one row per UTC day: the marketplace's flow of jobs, money and workers",
    )
    op.create_table(
        "worker_reputation_daily",
        sa.Column("day", sa.Date(), nullable=False, comment="the UTC day"),
        sa.Column("worker_address", sa.String(length=66), nullable=False),
        sa.Column(
            "reputation",
            sa.Integer(),
            nullable=False,
            comment="reputation at the end of the day (1-1000)",
        ),
        sa.Column(
            "reputation_change",
            sa.Integer(),
            nullable=False,
            comment="reputation at the end of the day minus at its start (500 on the day of "
            "registration)",
        ),
        sa.Column(
            "rating_change",
            sa.Integer(),
            nullable=False,
            comment="part of the change from ratings (update_worker_reputation)",
        ),
        sa.Column(
            "slash_change", sa.Integer(), nullable=False, comment="part of the change from slashes"
        ),
        sa.Column(
            "verification_change",
            sa.Integer(),
            nullable=False,
            comment="part of the change from verify_worker (true or false)",
        ),
        sa.Column("changes", sa.Integer(), nullable=False, comment="reputation events that day"),
        sa.Column(
            "change_reasons",
            postgresql.ARRAY(sa.String(length=16)),
            nullable=False,
            comment="distinct reasons of the day's changes: rating, slash, verified, unverified",
        ),
        sa.Column(
            "jobs_completed",
            sa.Integer(),
            nullable=False,
            comment="ratings >= 60 that day (the contract's jobs_completed increments)",
        ),
        sa.Column(
            "jobs_failed",
            sa.Integer(),
            nullable=False,
            comment="ratings < 40 and slashes that day (the contract's jobs_failed increments)",
        ),
        sa.Column(
            "jobs_expired",
            sa.Integer(),
            nullable=False,
            comment="the worker's claims whose lease expired that day",
        ),
        sa.Column(
            "attempts_failed",
            sa.Integer(),
            nullable=False,
            comment="the worker's render attempts reported failed that day",
        ),
        sa.Column(
            "jobs_paid",
            sa.Integer(),
            nullable=False,
            comment="jobs finalize_job paid to the worker that day",
        ),
        sa.Column(
            "earnings",
            sa.Numeric(precision=78, scale=0),
            nullable=False,
            comment="rewards paid to the worker that day, token base units (u256, exact)",
        ),
        sa.Column(
            "jobs_completed_total",
            sa.Integer(),
            nullable=False,
            comment="the contract's jobs_completed at the end of the day",
        ),
        sa.Column(
            "jobs_failed_total",
            sa.Integer(),
            nullable=False,
            comment="the contract's jobs_failed at the end of the day",
        ),
        sa.Column(
            "failure_rate_pct",
            sa.Integer(),
            nullable=True,
            comment="failed * 100 / (completed + failed), integer division as the contract does; "
            "NULL with no rated job",
        ),
        sa.Column(
            "verified", sa.Boolean(), nullable=False, comment="verified at the end of the day"
        ),
        sa.Column(
            "eligible_at_default",
            sa.Boolean(),
            nullable=False,
            comment="is_worker_eligible at the end of the day for a job of the default minimum "
            "reputation (400): verified, reputation >= 400, failure rate rule",
        ),
        sa.Column(
            "as_of_block",
            sa.BigInteger(),
            nullable=True,
            comment="the chain block the warehouse had ingested when the row was computed",
        ),
        sa.Column(
            "as_of_event_id",
            sa.BigInteger(),
            nullable=False,
            comment="the highest contract_events.id the row saw (later ids: events it has not)",
        ),
        sa.Column(
            "computed_at",
            sa.DateTime(timezone=True),
            nullable=False,
            comment="when the row was computed (the warehouse's clock)",
        ),
        sa.PrimaryKeyConstraint("day", "worker_address", name=op.f("pk_worker_reputation_daily")),
        schema=SCHEMA,
        comment="one row per registered worker and UTC day: reputation over time and why it moved",
    )
    op.create_index(
        "ix_worker_reputation_daily_worker_address",
        "worker_reputation_daily",
        ["worker_address", "day"],
        unique=False,
        schema=SCHEMA,
    )
    op.create_table(
        "worker_scorecard",
        sa.Column("worker_address", sa.String(length=66), nullable=False),
        sa.Column(
            "registered_at",
            sa.DateTime(timezone=True),
            nullable=False,
            comment="registration time",
        ),
        sa.Column("verified", sa.Boolean(), nullable=False, comment="verified now"),
        sa.Column(
            "reputation", sa.Integer(), nullable=False, comment="current reputation (1-1000)"
        ),
        sa.Column(
            "reputation_7d_ago",
            sa.Integer(),
            nullable=False,
            comment="reputation 7 days before as_of_time (500 if registered since)",
        ),
        sa.Column(
            "trend_7d", sa.Integer(), nullable=False, comment="reputation minus reputation_7d_ago"
        ),
        sa.Column(
            "reputation_30d_ago",
            sa.Integer(),
            nullable=False,
            comment="reputation 30 days before as_of_time (500 if registered since)",
        ),
        sa.Column(
            "trend_30d", sa.Integer(), nullable=False, comment="reputation minus reputation_30d_ago"
        ),
        sa.Column(
            "jobs_completed", sa.Integer(), nullable=False, comment="the contract's jobs_completed"
        ),
        sa.Column(
            "jobs_failed", sa.Integer(), nullable=False, comment="the contract's jobs_failed"
        ),
        sa.Column(
            "failure_rate_pct", sa.Integer(), nullable=True, comment="as in worker_reputation_daily"
        ),
        sa.Column(
            "eligible_at_default",
            sa.Boolean(),
            nullable=False,
            comment="is_worker_eligible now for a job of the default minimum reputation (400)",
        ),
        sa.Column(
            "attempts",
            sa.Integer(),
            nullable=False,
            comment="render attempts (claims) of the worker",
        ),
        sa.Column(
            "attempts_completed",
            sa.Integer(),
            nullable=False,
            comment="attempts that delivered a result",
        ),
        sa.Column(
            "attempts_failed", sa.Integer(), nullable=False, comment="attempts reported failed"
        ),
        sa.Column(
            "lease_expiries", sa.Integer(), nullable=False, comment="attempts whose lease expired"
        ),
        sa.Column(
            "success_rate",
            sa.Float(),
            nullable=True,
            comment="attempts_completed / finished attempts (completed, failed, expired); NULL "
            "with none finished",
        ),
        sa.Column(
            "blocked_jobs",
            sa.Integer(),
            nullable=False,
            comment="jobs the API blocks the worker from (too many failed attempts)",
        ),
        sa.Column(
            "median_render_seconds",
            sa.Float(),
            nullable=True,
            comment="of delivered attempts, as reported",
        ),
        sa.Column(
            "p95_render_seconds",
            sa.Float(),
            nullable=True,
            comment="of delivered attempts, as reported",
        ),
        sa.Column(
            "median_seconds_to_claim",
            sa.Float(),
            nullable=True,
            comment="job creation to the worker's claim",
        ),
        sa.Column(
            "p95_seconds_to_claim",
            sa.Float(),
            nullable=True,
            comment="job creation to the worker's claim",
        ),
        sa.Column(
            "largest_frame_pixels",
            sa.BigInteger(),
            nullable=True,
            comment="width * height of its largest delivery",
        ),
        sa.Column(
            "devices",
            postgresql.ARRAY(sa.String(length=16)),
            nullable=False,
            comment="devices its delivered renders ran on (OPTIX, CUDA, HIP, ONEAPI, METAL, CPU)",
        ),
        sa.Column(
            "jobs_paid",
            sa.Integer(),
            nullable=False,
            comment="jobs finalize_job paid to the worker",
        ),
        sa.Column(
            "earnings",
            sa.Numeric(precision=78, scale=0),
            nullable=False,
            comment="rewards paid to the worker, token base units (u256, exact)",
        ),
        sa.Column(
            "rank",
            sa.Integer(),
            nullable=False,
            comment="1 = best: by reputation, then lower failure rate, then success rate, then "
            "earnings",
        ),
        sa.Column(
            "as_of_time",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="the chain time of as_of_block: the trends' reference time",
        ),
        sa.Column(
            "as_of_block",
            sa.BigInteger(),
            nullable=True,
            comment="the chain block the warehouse had ingested when the row was computed",
        ),
        sa.Column(
            "as_of_event_id",
            sa.BigInteger(),
            nullable=False,
            comment="the highest contract_events.id the row saw (later ids: events it has not)",
        ),
        sa.Column(
            "computed_at",
            sa.DateTime(timezone=True),
            nullable=False,
            comment="when the row was computed (the warehouse's clock)",
        ),
        sa.PrimaryKeyConstraint("worker_address", name=op.f("pk_worker_scorecard")),
        schema=SCHEMA,
        comment="one row per registered worker: can we trust it, and with what",
    )


def downgrade() -> None:
    op.drop_table("worker_scorecard", schema=SCHEMA)
    op.drop_index(
        "ix_worker_reputation_daily_worker_address",
        table_name="worker_reputation_daily",
        schema=SCHEMA,
    )
    op.drop_table("worker_reputation_daily", schema=SCHEMA)
    op.drop_table("network_daily", schema=SCHEMA)
    op.execute(f"DROP SCHEMA IF EXISTS {SCHEMA}")
    for name, table, _, _ in reversed(SOURCE_INDEXES):
        op.drop_index(name, table_name=table)
