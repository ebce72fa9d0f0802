"""Chain ingestion tables: raw events, recent blocks, cursors, workers, jobs, reputation.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 07:42:52.295411
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "chain_blocks",
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(length=66), nullable=False),
        sa.Column("parent_hash", sa.String(length=66), nullable=False),
        sa.Column("block_timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("block_number", name=op.f("pk_chain_blocks")),
        comment="recent blocks the warehouse holds data of: compared with the chain to find reorgs",
    )
    op.create_table(
        "chain_cursor",
        sa.Column("contract_address", sa.String(length=66), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(length=66), nullable=False),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=True
        ),
        sa.PrimaryKeyConstraint("contract_address", name=op.f("pk_chain_cursor")),
        comment="last block fully ingested per contract; moves in the same transaction as the data",
    )
    op.create_table(
        "contract_events",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("contract_address", sa.String(length=66), nullable=False),
        sa.Column("event_name", sa.String(length=64), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(length=66), nullable=False),
        sa.Column("block_timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("transaction_hash", sa.String(length=66), nullable=False),
        sa.Column("transaction_index", sa.Integer(), nullable=False),
        sa.Column("event_index", sa.Integer(), nullable=False),
        sa.Column(
            "job_id",
            sa.Numeric(precision=78, scale=0),
            nullable=True,
            comment="the job the event is about, if any",
        ),
        sa.Column(
            "worker_address",
            sa.String(length=66),
            nullable=True,
            comment="the worker the event is about, if any",
        ),
        sa.Column(
            "keys",
            postgresql.JSONB(astext_type=sa.Text()),
            nullable=False,
            comment="raw keys, hex felts",
        ),
        sa.Column(
            "data",
            postgresql.JSONB(astext_type=sa.Text()),
            nullable=False,
            comment="raw data, hex felts",
        ),
        sa.Column(
            "decoded",
            postgresql.JSONB(astext_type=sa.Text()),
            nullable=False,
            comment="members by name (felts as text)",
        ),
        sa.Column(
            "context",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
            comment="chain reads at the event's block: asset CID and minimum reputation of a "
            "new job, result CID of a submission",
        ),
        sa.Column(
            "ingested_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=True,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contract_events")),
        sa.UniqueConstraint(
            "block_hash",
            "transaction_index",
            "event_index",
            name=op.f("uq_contract_events_block_hash_transaction_index_event_index"),
        ),
    )
    op.create_index(
        "ix_contract_events_block_number", "contract_events", ["block_number"], unique=False
    )
    op.create_index(
        "ix_contract_events_event_name", "contract_events", ["event_name"], unique=False
    )
    op.create_index("ix_contract_events_job_id", "contract_events", ["job_id"], unique=False)
    op.create_index(
        "ix_contract_events_transaction_hash", "contract_events", ["transaction_hash"], unique=False
    )
    op.create_index(
        "ix_contract_events_worker_address", "contract_events", ["worker_address"], unique=False
    )
    op.create_table(
        "jobs",
        sa.Column("job_id", sa.Numeric(precision=78, scale=0), nullable=False),
        sa.Column("creator_address", sa.String(length=66), nullable=False),
        sa.Column("asset_cid_part1", sa.Numeric(precision=78, scale=0), nullable=False),
        sa.Column("asset_cid_part2", sa.Numeric(precision=78, scale=0), nullable=False),
        sa.Column(
            "asset_cid",
            sa.Text(),
            nullable=True,
            comment="the two parts joined; NULL when not printable ASCII",
        ),
        sa.Column("reward_amount", sa.Numeric(precision=78, scale=0), nullable=False),
        sa.Column("deadline", sa.DateTime(timezone=True), nullable=False),
        sa.Column("min_reputation", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("worker_address", sa.String(length=66), nullable=True),
        sa.Column("result_cid_part1", sa.Numeric(precision=78, scale=0), nullable=True),
        sa.Column("result_cid_part2", sa.Numeric(precision=78, scale=0), nullable=True),
        sa.Column("result_cid", sa.Text(), nullable=True),
        sa.Column("quality_score", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finalized_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_block", sa.BigInteger(), nullable=False),
        sa.Column("created_tx", sa.String(length=66), nullable=False),
        sa.Column("submitted_block", sa.BigInteger(), nullable=True),
        sa.Column("submitted_tx", sa.String(length=66), nullable=True),
        sa.Column("finalized_block", sa.BigInteger(), nullable=True),
        sa.Column("finalized_tx", sa.String(length=66), nullable=True),
        sa.Column("updated_block", sa.BigInteger(), nullable=False),
        sa.Column("updated_tx", sa.String(length=66), nullable=False),
        sa.CheckConstraint(
            "status IN ('open', 'assigned', 'completed', 'submitted', 'finalized', 'expired')",
            name=op.f("ck_jobs_status_known"),
        ),
        sa.PrimaryKeyConstraint("job_id", name=op.f("pk_jobs")),
    )
    op.create_index("ix_jobs_creator_address", "jobs", ["creator_address"], unique=False)
    op.create_index("ix_jobs_status", "jobs", ["status"], unique=False)
    op.create_index("ix_jobs_worker_address", "jobs", ["worker_address"], unique=False)
    op.create_table(
        "workers",
        sa.Column("address", sa.String(length=66), nullable=False),
        sa.Column("registered", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("info_cid", sa.Numeric(precision=78, scale=0), nullable=True),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("verified", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("verified_by", sa.String(length=66), nullable=True),
        sa.Column("reputation", sa.Integer(), server_default="0", nullable=False),
        sa.Column("jobs_completed", sa.Integer(), server_default="0", nullable=False),
        sa.Column("jobs_failed", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "total_earnings", sa.Numeric(precision=78, scale=0), server_default="0", nullable=False
        ),
        sa.Column("capabilities", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("hardware_specs", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("contact_info", sa.String(length=255), nullable=True),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_block", sa.BigInteger(), nullable=True),
        sa.Column("updated_tx", sa.String(length=66), nullable=True),
        sa.CheckConstraint(
            "reputation BETWEEN 0 AND 1000", name=op.f("ck_workers_reputation_range")
        ),
        sa.PrimaryKeyConstraint("address", name=op.f("pk_workers")),
    )
    op.create_index("ix_workers_reputation", "workers", ["reputation"], unique=False)
    op.create_table(
        "reputation_history",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("block_hash", sa.String(length=66), nullable=False),
        sa.Column("transaction_index", sa.Integer(), nullable=False),
        sa.Column("event_index", sa.Integer(), nullable=False),
        sa.Column("worker_address", sa.String(length=66), nullable=False),
        sa.Column("job_id", sa.Numeric(precision=78, scale=0), nullable=True),
        sa.Column("old_reputation", sa.Integer(), nullable=False),
        sa.Column("new_reputation", sa.Integer(), nullable=False),
        sa.Column("change_amount", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("quality_score", sa.Integer(), nullable=True),
        sa.Column("changed_by", sa.String(length=66), nullable=True),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("transaction_hash", sa.String(length=66), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["block_hash", "transaction_index", "event_index"],
            [
                "contract_events.block_hash",
                "contract_events.transaction_index",
                "contract_events.event_index",
            ],
            name="fk_reputation_history_event",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reputation_history")),
        sa.UniqueConstraint(
            "block_hash",
            "transaction_index",
            "event_index",
            name=op.f("uq_reputation_history_block_hash_transaction_index_event_index"),
        ),
    )
    op.create_index(
        "ix_reputation_history_worker_address",
        "reputation_history",
        ["worker_address", "block_number"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_reputation_history_worker_address", table_name="reputation_history")
    op.drop_table("reputation_history")
    op.drop_index("ix_workers_reputation", table_name="workers")
    op.drop_table("workers")
    op.drop_index("ix_jobs_worker_address", table_name="jobs")
    op.drop_index("ix_jobs_status", table_name="jobs")
    op.drop_index("ix_jobs_creator_address", table_name="jobs")
    op.drop_table("jobs")
    op.drop_index("ix_contract_events_worker_address", table_name="contract_events")
    op.drop_index("ix_contract_events_transaction_hash", table_name="contract_events")
    op.drop_index("ix_contract_events_job_id", table_name="contract_events")
    op.drop_index("ix_contract_events_event_name", table_name="contract_events")
    op.drop_index("ix_contract_events_block_number", table_name="contract_events")
    op.drop_table("contract_events")
    op.drop_table("chain_cursor")
    op.drop_table("chain_blocks")
