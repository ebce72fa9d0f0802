"""Sanctions: each action the operator's account took against a cheat (a reputation slash,
an unverification), why, and what the chain answered.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 12:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sanctions",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("worker_address", sa.String(length=66), nullable=False),
        sa.Column("verification_id", sa.BigInteger(), nullable=False),
        sa.Column("job_id", sa.Numeric(precision=78, scale=0), nullable=False),
        sa.Column("cause", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("transaction_hash", sa.String(length=66), nullable=True),
        sa.Column("detail", sa.String(length=500), nullable=True),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "cause IN ('forged result on chain', 'rejected deliveries')",
            name=op.f("ck_sanctions_cause_known"),
        ),
        sa.CheckConstraint(
            "outcome IN ('sent', 'failed')", name=op.f("ck_sanctions_outcome_known")
        ),
        sa.ForeignKeyConstraint(
            ["verification_id"],
            ["verifications.id"],
            name=op.f("fk_sanctions_verification_id_verifications"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sanctions")),
        comment="actions the operator's account took against cheats, and their outcomes",
    )
    op.create_index(
        "uq_sanctions_sent",
        "sanctions",
        ["verification_id", "action"],
        unique=True,
        postgresql_where=sa.text("outcome = 'sent'"),
    )
    op.create_index("ix_sanctions_worker", "sanctions", ["worker_address", "id"], unique=False)


def downgrade() -> None:
    op.drop_table("sanctions")
