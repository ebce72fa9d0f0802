"""Verified deliveries: an attempt that delivered is `completed`, `verifying` while a verifier
holds its verification, then `verified` or `rejected`; the `verifications` table holds what
is re-rendered (windows, seeds), who verifies it under which lease, and the verdict. A
result that reached the chain without a verified delivery gets one too (`source` chain).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_STATES = "state IN ('running', 'completed', 'failed', 'expired')"
NEW_STATES = (
    "state IN ('running', 'completed', 'verifying', 'verified', 'rejected', 'failed', 'expired')"
)
OLD_LIVE = "state IN ('running', 'completed')"
NEW_LIVE = "state IN ('running', 'completed', 'verifying', 'verified')"


def _attempt_states(states: str, live: str, old_live: str) -> None:
    op.drop_constraint(op.f("ck_job_attempts_state_known"), "job_attempts", type_="check")
    op.create_check_constraint(op.f("ck_job_attempts_state_known"), "job_attempts", states)
    op.drop_index(
        "uq_job_attempts_live", table_name="job_attempts", postgresql_where=sa.text(old_live)
    )
    op.create_index(
        "uq_job_attempts_live",
        "job_attempts",
        ["job_id"],
        unique=True,
        postgresql_where=sa.text(live),
    )


def upgrade() -> None:
    _attempt_states(NEW_STATES, NEW_LIVE, OLD_LIVE)
    op.create_table(
        "verifications",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("job_id", sa.Numeric(precision=78, scale=0), nullable=False),
        sa.Column("attempt_id", sa.BigInteger(), nullable=True),
        sa.Column("attempt", sa.Integer(), nullable=True),
        sa.Column("worker_address", sa.String(length=66), nullable=False),
        sa.Column("result_cid", sa.String(length=62), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("windows", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("seeds", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "front_ran",
            sa.String(length=66),
            nullable=True,
            comment="the worker whose live delivery a result on chain took the job from",
        ),
        sa.Column("verifier_address", sa.String(length=66), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failures", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "failure_reasons",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column("report", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "source IN ('delivery', 'chain')", name=op.f("ck_verifications_source_known")
        ),
        sa.CheckConstraint(
            "state IN ('open', 'claimed', 'verified', 'rejected')",
            name=op.f("ck_verifications_state_known"),
        ),
        sa.ForeignKeyConstraint(
            ["attempt_id"],
            ["job_attempts.id"],
            name=op.f("fk_verifications_attempt_id_job_attempts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_verifications")),
        comment="the verification of each delivered frame: crop windows, seeds, verifier, verdict",
    )
    op.create_index(
        "ix_verifications_pending",
        "verifications",
        ["id"],
        unique=False,
        postgresql_where=sa.text("state IN ('open', 'claimed')"),
    )
    op.create_index("ix_verifications_job_id", "verifications", ["job_id", "id"], unique=False)
    op.create_index(
        "ix_verifications_rejected_worker",
        "verifications",
        ["worker_address"],
        unique=False,
        postgresql_where=sa.text("state = 'rejected'"),
    )
    op.create_index(
        "uq_verifications_attempt",
        "verifications",
        ["attempt_id"],
        unique=True,
        postgresql_where=sa.text("attempt_id IS NOT NULL"),
    )
    op.create_index(
        "uq_verifications_chain_result",
        "verifications",
        ["job_id", "result_cid"],
        unique=True,
        postgresql_where=sa.text("source = 'chain'"),
    )


def downgrade() -> None:
    op.drop_table("verifications")
    op.execute(
        "UPDATE job_attempts SET state = CASE state WHEN 'rejected' THEN 'failed' "
        "ELSE 'completed' END WHERE state IN ('verifying', 'verified', 'rejected')"
    )
    _attempt_states(OLD_STATES, OLD_LIVE, NEW_LIVE)
