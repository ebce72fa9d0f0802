"""Pipes messages of each attempt, stored in order and once.

A worker agent reports through the API (it never reaches Dagster); the render run reads
these rows and replays them as its logs and materialization, however late it starts.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 23:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pipes_messages",
        sa.Column("attempt_id", sa.BigInteger(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False, comment="0, 1, … per attempt, no gaps"),
        sa.Column("job_id", sa.Numeric(precision=78, scale=0), nullable=False),
        sa.Column("method", sa.String(length=64), nullable=False),
        sa.Column(
            "message",
            postgresql.JSONB(astext_type=sa.Text()),
            nullable=False,
            comment="the Dagster Pipes message, as sent",
        ),
        sa.Column(
            "received_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("seq >= 0", name=op.f("ck_pipes_messages_seq_non_negative")),
        sa.ForeignKeyConstraint(
            ["attempt_id"],
            ["job_attempts.id"],
            name=op.f("fk_pipes_messages_attempt_id_job_attempts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("attempt_id", "seq", name=op.f("pk_pipes_messages")),
        comment="the Dagster Pipes messages of each attempt (logs, progress, materialization), "
        "in order and once; the render run replays them",
    )
    op.create_index(
        op.f("ix_pipes_messages_job_id"),
        "pipes_messages",
        ["job_id", "attempt_id", "seq"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_pipes_messages_job_id"), table_name="pipes_messages")
    op.drop_table("pipes_messages")
