"""Two small partial indexes the reputation tables read a day through.

- `reputation_history` verification changes by worker in chain order: how many workers were
  verified at a day's end (`network_daily`) and a worker's verification before a day
  (`worker_reputation_daily`) read these ~1 in 25 rows instead of scanning the history.
- `contract_events` WorkerRegistered by id, with the worker and time: the one-row-per-worker
  checks count registrations up to the event id a table saw (an index-only scan of 1 row per
  worker instead of a bitmap over every event id).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 22:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_reputation_history_verifications",
        "reputation_history",
        ["worker_address", "block_number", "transaction_index", "event_index"],
        postgresql_where=sa.text("reason IN ('verified', 'unverified')"),
    )
    op.create_index(
        "ix_contract_events_registrations",
        "contract_events",
        ["id"],
        postgresql_include=["worker_address", "block_timestamp"],
        postgresql_where=sa.text("event_name = 'WorkerRegistered'"),
    )


def downgrade() -> None:
    op.drop_index("ix_contract_events_registrations", table_name="contract_events")
    op.drop_index("ix_reputation_history_verifications", table_name="reputation_history")
