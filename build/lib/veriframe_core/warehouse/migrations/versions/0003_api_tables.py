"""API tables: login challenges and sessions, auth rate limits, render settings, claims.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 12:09:28.363782
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "auth_challenges",
        sa.Column("nonce", sa.String(length=66), nullable=False, comment="random felt, hex"),
        sa.Column("address", sa.String(length=66), nullable=False),
        sa.Column("chain_id", sa.String(length=66), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "used_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="set once: challenges are single use",
        ),
        sa.PrimaryKeyConstraint("nonce", name=op.f("pk_auth_challenges")),
        comment="SNIP-12 login challenges handed out by POST /auth/challenge",
    )
    op.create_index(
        "ix_auth_challenges_expires_at", "auth_challenges", ["expires_at"], unique=False
    )
    op.create_table(
        "auth_sessions",
        sa.Column("session_id", sa.String(length=64), nullable=False),
        sa.Column("address", sa.String(length=66), nullable=False),
        sa.Column("roles", sa.ARRAY(sa.String(length=16)), nullable=False),
        sa.Column(
            "refresh_jti",
            sa.String(length=64),
            nullable=False,
            comment="the one valid refresh token",
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_reason", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("session_id", name=op.f("pk_auth_sessions")),
        comment="one row per login: refresh tokens rotate through refresh_jti; logout revokes",
    )
    op.create_index("ix_auth_sessions_address", "auth_sessions", ["address"], unique=False)
    op.create_table(
        "job_attempts",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("job_id", sa.Numeric(precision=78, scale=0), nullable=False),
        sa.Column("created_tx", sa.String(length=66), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False, comment="1, 2, … per job"),
        sa.Column("worker_address", sa.String(length=66), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("progress", sa.Float(), nullable=True),
        sa.Column("status_message", sa.String(length=500), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("result_cid", sa.String(length=62), nullable=True),
        sa.Column(
            "result",
            postgresql.JSONB(astext_type=sa.Text()),
            nullable=True,
            comment="what the worker reported with the result",
        ),
        sa.Column("failure_reason", sa.String(length=500), nullable=True),
        sa.CheckConstraint(
            "state IN ('running', 'completed', 'failed', 'expired')",
            name=op.f("ck_job_attempts_state_known"),
        ),
        sa.CheckConstraint("progress BETWEEN 0 AND 1", name=op.f("ck_job_attempts_progress_range")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_attempts")),
        comment="every claim of a job by a worker: its lease, progress and outcome",
    )
    op.create_index(
        "ix_job_attempts_lease_expires_at",
        "job_attempts",
        ["lease_expires_at"],
        unique=False,
        postgresql_where=sa.text("state = 'running'"),
    )
    op.create_index(
        "ix_job_attempts_job_id", "job_attempts", ["job_id", "worker_address", "id"], unique=False
    )
    op.create_index(
        "ix_job_attempts_worker_address", "job_attempts", ["worker_address", "state"], unique=False
    )
    op.create_index(
        "uq_job_attempts_live",
        "job_attempts",
        ["job_id"],
        unique=True,
        postgresql_where=sa.text("state IN ('running', 'completed')"),
    )
    op.create_table(
        "job_render_settings",
        sa.Column("job_id", sa.Numeric(precision=78, scale=0), nullable=False),
        sa.Column(
            "created_tx",
            sa.String(length=66),
            nullable=False,
            comment="the job's creating transaction",
        ),
        sa.Column("frame", sa.Integer(), nullable=False),
        sa.Column("resolution_x", sa.Integer(), nullable=False),
        sa.Column("resolution_y", sa.Integer(), nullable=False),
        sa.Column("samples", sa.Integer(), nullable=False),
        sa.Column("engine", sa.String(length=32), nullable=False),
        sa.Column("output_format", sa.String(length=16), nullable=False),
        sa.Column(
            "required_devices",
            sa.ARRAY(sa.String(length=16)),
            nullable=True,
            comment="any of these; NULL: any",
        ),
        sa.Column("min_vram_mb", sa.Integer(), nullable=True),
        sa.Column(
            "min_blender_version",
            sa.ARRAY(sa.Integer()),
            nullable=True,
            comment="e.g. {4,2}; NULL: any",
        ),
        sa.Column(
            "required_os",
            sa.ARRAY(sa.String(length=16)),
            nullable=True,
            comment="any of these; NULL: any",
        ),
        sa.Column("set_by", sa.String(length=66), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("job_id", name=op.f("pk_job_render_settings")),
        comment="render settings the job's creator attached through POST /jobs",
    )
    op.create_table(
        "rate_limits",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", "window_start", name=op.f("pk_rate_limits")),
        comment="fixed one-minute windows of requests per client and endpoint",
    )
    op.create_index(
        "ix_jobs_open_reward",
        "jobs",
        [sa.literal_column("reward_amount DESC"), "job_id"],
        unique=False,
        postgresql_where=sa.text("status = 'open'"),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_jobs_open_reward", table_name="jobs", postgresql_where=sa.text("status = 'open'")
    )
    op.drop_table("rate_limits")
    op.drop_table("job_render_settings")
    op.drop_index(
        "uq_job_attempts_live",
        table_name="job_attempts",
        postgresql_where=sa.text("state IN ('running', 'completed')"),
    )
    op.drop_index("ix_job_attempts_job_id", table_name="job_attempts")
    op.drop_index("ix_job_attempts_worker_address", table_name="job_attempts")
    op.drop_index(
        "ix_job_attempts_lease_expires_at",
        table_name="job_attempts",
        postgresql_where=sa.text("state = 'running'"),
    )
    op.drop_table("job_attempts")
    op.drop_index("ix_auth_sessions_address", table_name="auth_sessions")
    op.drop_table("auth_sessions")
    op.drop_index("ix_auth_challenges_expires_at", table_name="auth_challenges")
    op.drop_table("auth_challenges")
