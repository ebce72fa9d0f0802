"""The scorecard counts what verification found: verified and rejected deliveries, results
rejected on chain, and sanctions; a rejected delivery is not a success. (The table is
rebuilt on every refresh: the columns need no default.)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 12:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "analytics"
COLUMNS = {
    "deliveries_verified": "its delivered frames that verification passed",
    "deliveries_rejected": "its delivered frames that verification rejected",
    "results_rejected_on_chain": "its results submitted on chain without a delivery (around "
    "the API, or ahead of the worker holding the claim) that verification rejected",
    "sanctions": "slashes and unverifications the operator's account sent against it",
}

SUCCESS_RATE = (
    "attempts_completed / finished attempts (completed, failed, expired); NULL with none finished",
    "attempts_completed / finished attempts (completed, rejected, failed, expired); NULL with "
    "none finished",
)


def _success_rate_comment(old: str, new: str) -> None:
    op.alter_column(
        "worker_scorecard",
        "success_rate",
        schema=SCHEMA,
        comment=new,
        existing_comment=old,
        existing_type=sa.Float(),
        existing_nullable=True,
    )


def upgrade() -> None:
    op.execute("DELETE FROM analytics.worker_scorecard")  # refilled by its next refresh
    for name, comment in COLUMNS.items():
        op.add_column(
            "worker_scorecard",
            sa.Column(name, sa.Integer(), nullable=False, comment=comment),
            schema=SCHEMA,
        )
    _success_rate_comment(*SUCCESS_RATE)


def downgrade() -> None:
    _success_rate_comment(*reversed(SUCCESS_RATE))
    for name in COLUMNS:
        op.drop_column("worker_scorecard", name, schema=SCHEMA)
