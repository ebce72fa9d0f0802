"""Running attempts indexed by worker (and lease), in place of by lease alone.

Counting a worker's claims (the claim cap, on every claim) could be planned as a scan of
every running attempt through the lease-only index, whenever the statistics said few were
running; with the worker first, that plan no longer exists. The lease sweep reads the same,
small, partial index in full.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 15:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RUNNING = sa.text("state = 'running'")


def upgrade() -> None:
    op.create_index(
        "ix_job_attempts_running",
        "job_attempts",
        ["worker_address", "lease_expires_at"],
        unique=False,
        postgresql_where=RUNNING,
    )
    op.drop_index(
        "ix_job_attempts_lease_expires_at", table_name="job_attempts", postgresql_where=RUNNING
    )


def downgrade() -> None:
    op.create_index(
        "ix_job_attempts_lease_expires_at",
        "job_attempts",
        ["lease_expires_at"],
        unique=False,
        postgresql_where=RUNNING,
    )
    op.drop_index("ix_job_attempts_running", table_name="job_attempts", postgresql_where=RUNNING)
