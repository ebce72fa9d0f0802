"""When each job was first indexed, on the warehouse's clock.

A new job without render settings is held back for a grace period (`api_settings_grace_s`)
so that its creator can attach them; the grace counts from the moment the platform saw the
job, which the chain's block timestamp does not tell (a chain's clock may lead or lag).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 05:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "jobs",
        sa.Column(
            "indexed_at",
            sa.DateTime(timezone=True),
            nullable=False,
            server_default=sa.func.now(),
            comment="when ingestion first wrote the row (the warehouse's clock, not the chain's)",
        ),
    )


def downgrade() -> None:
    op.drop_column("jobs", "indexed_at")
