"""The warehouse schema: one MetaData shared by the ORM models and Alembic.

The naming convention gives every constraint and index a deterministic name, so Alembic
autogenerate can diff and drop them by name on any server.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import MetaData
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Base(DeclarativeBase):
    """Base of every warehouse ORM model; its tables land in :data:`metadata`."""

    metadata = metadata


# --------------------------------------------------------------------------------------
# Chain ingestion (Chain ingestion issue). Felts, ids and u256 amounts are NUMERIC(78,0):
# a u256 has up to 78 decimal digits and never fits BIGINT. Addresses are normalised to
# 0x + 64 lowercase hex digits (veriframe_core.chain.addresses.normalize_address).
# --------------------------------------------------------------------------------------

Felt = sa.Numeric(78, 0)
Address = sa.String(66)
Hash = sa.String(66)
JOB_STATUSES = ("open", "assigned", "completed", "submitted", "finalized", "expired")

contract_events = sa.Table(
    "contract_events",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("contract_address", Address, nullable=False),
    sa.Column("event_name", sa.String(64), nullable=False),
    sa.Column("block_number", sa.BigInteger, nullable=False),
    sa.Column("block_hash", Hash, nullable=False),
    sa.Column("block_timestamp", sa.DateTime(timezone=True), nullable=False),
    sa.Column("transaction_hash", Hash, nullable=False),
    sa.Column("transaction_index", sa.Integer, nullable=False),
    sa.Column("event_index", sa.Integer, nullable=False),
    sa.Column("job_id", Felt, comment="the job the event is about, if any"),
    sa.Column("worker_address", Address, comment="the worker the event is about, if any"),
    sa.Column("keys", JSONB, nullable=False, comment="raw keys, hex felts"),
    sa.Column("data", JSONB, nullable=False, comment="raw data, hex felts"),
    sa.Column("decoded", JSONB, nullable=False, comment="members by name (felts as text)"),
    sa.Column(
        "context",
        JSONB,
        nullable=False,
        server_default=sa.text("'{}'::jsonb"),
        comment="chain reads at the event's block: asset CID and minimum reputation of a new "
        "job, result CID of a submission",
    ),
    sa.Column("ingested_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
    sa.UniqueConstraint("block_hash", "transaction_index", "event_index"),
    sa.Index("ix_contract_events_block_number", "block_number"),
    sa.Index("ix_contract_events_event_name", "event_name"),
    sa.Index("ix_contract_events_transaction_hash", "transaction_hash"),
    sa.Index("ix_contract_events_job_id", "job_id"),
    sa.Index("ix_contract_events_worker_address", "worker_address"),
    sa.Index("ix_contract_events_block_timestamp", "block_timestamp"),  # analytics: by day
    # the analytics checks count registrations up to an event id (migration 0008)
    sa.Index(
        "ix_contract_events_registrations",
        "id",
        postgresql_include=["worker_address", "block_timestamp"],
        postgresql_where=sa.text("event_name = 'WorkerRegistered'"),
    ),
)

chain_blocks = sa.Table(
    "chain_blocks",
    metadata,
    sa.Column("block_number", sa.BigInteger, primary_key=True),
    sa.Column("block_hash", Hash, nullable=False),
    sa.Column("parent_hash", Hash, nullable=False),
    sa.Column("block_timestamp", sa.DateTime(timezone=True), nullable=False),
    comment="recent blocks the warehouse holds data of: compared with the chain to find reorgs",
)

chain_cursor = sa.Table(
    "chain_cursor",
    metadata,
    sa.Column("contract_address", Address, primary_key=True),
    sa.Column("block_number", sa.BigInteger, nullable=False),
    sa.Column("block_hash", Hash, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
    comment="last block fully ingested per contract; moves in the same transaction as the data",
)

workers = sa.Table(
    "workers",
    metadata,
    sa.Column("address", Address, primary_key=True),
    sa.Column("registered", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("info_cid", Felt),
    sa.Column("registered_at", sa.DateTime(timezone=True)),
    sa.Column("verified", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("verified_at", sa.DateTime(timezone=True)),
    sa.Column("verified_by", Address),
    sa.Column("reputation", sa.Integer, nullable=False, server_default="0"),
    sa.Column("jobs_completed", sa.Integer, nullable=False, server_default="0"),
    sa.Column("jobs_failed", sa.Integer, nullable=False, server_default="0"),
    sa.Column("total_earnings", Felt, nullable=False, server_default="0"),
    # off-chain profile, written by the API
    sa.Column("capabilities", JSONB),
    sa.Column("hardware_specs", JSONB),
    sa.Column("contact_info", sa.String(255)),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("last_seen", sa.DateTime(timezone=True)),
    # lineage: the chain change that last touched the row
    sa.Column("updated_block", sa.BigInteger),
    sa.Column("updated_tx", Hash),
    sa.CheckConstraint("reputation BETWEEN 0 AND 1000", name="reputation_range"),
    sa.Index("ix_workers_reputation", "reputation"),
)

jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("job_id", Felt, primary_key=True),
    sa.Column("creator_address", Address, nullable=False),
    sa.Column("asset_cid_part1", Felt, nullable=False),
    sa.Column("asset_cid_part2", Felt, nullable=False),
    sa.Column("asset_cid", sa.Text, comment="the two parts joined; NULL when not printable ASCII"),
    sa.Column("reward_amount", Felt, nullable=False),
    sa.Column("deadline", sa.DateTime(timezone=True), nullable=False),
    sa.Column("min_reputation", sa.Integer, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("worker_address", Address),
    sa.Column("result_cid_part1", Felt),
    sa.Column("result_cid_part2", Felt),
    sa.Column("result_cid", sa.Text),
    sa.Column("quality_score", sa.Integer),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("submitted_at", sa.DateTime(timezone=True)),
    sa.Column("finalized_at", sa.DateTime(timezone=True)),
    sa.Column("created_block", sa.BigInteger, nullable=False),
    sa.Column("created_tx", Hash, nullable=False),
    sa.Column("submitted_block", sa.BigInteger),
    sa.Column("submitted_tx", Hash),
    sa.Column("finalized_block", sa.BigInteger),
    sa.Column("finalized_tx", Hash),
    sa.Column("updated_block", sa.BigInteger, nullable=False),
    sa.Column("updated_tx", Hash, nullable=False),
    sa.Column(
        "indexed_at",
        sa.DateTime(timezone=True),
        nullable=False,
        server_default=sa.func.now(),
        comment="when ingestion first wrote the row (the warehouse's clock, not the chain's)",
    ),
    sa.CheckConstraint(
        "status IN (" + ", ".join(f"'{s}'" for s in JOB_STATUSES) + ")", name="status_known"
    ),
    sa.Index("ix_jobs_status", "status"),
    sa.Index("ix_jobs_creator_address", "creator_address"),
    sa.Index("ix_jobs_worker_address", "worker_address"),
    # the analytics tables read jobs by the day of their timestamps (migration 0007)
    sa.Index("ix_jobs_created_at", "created_at"),
    sa.Index("ix_jobs_submitted_at", "submitted_at"),
    sa.Index("ix_jobs_finalized_at", "finalized_at"),
    sa.Index("ix_jobs_deadline", "deadline"),
    # what GET /jobs/available scans: open jobs, best reward first
    sa.Index(
        "ix_jobs_open_reward",
        sa.text("reward_amount DESC"),
        "job_id",
        postgresql_where=sa.text("status = 'open'"),
    ),
)

reputation_history = sa.Table(
    "reputation_history",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    # the event the change comes from; a rollback of that event deletes the row with it
    sa.Column("block_hash", Hash, nullable=False),
    sa.Column("transaction_index", sa.Integer, nullable=False),
    sa.Column("event_index", sa.Integer, nullable=False),
    sa.Column("worker_address", Address, nullable=False),
    sa.Column("job_id", Felt),
    sa.Column("old_reputation", sa.Integer, nullable=False),
    sa.Column("new_reputation", sa.Integer, nullable=False),
    sa.Column("change_amount", sa.Integer, nullable=False),
    sa.Column("reason", sa.String(32), nullable=False),
    sa.Column("quality_score", sa.Integer),
    sa.Column("changed_by", Address),
    sa.Column("block_number", sa.BigInteger, nullable=False),
    sa.Column("transaction_hash", Hash, nullable=False),
    sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(
        ["block_hash", "transaction_index", "event_index"],
        [
            contract_events.c.block_hash,
            contract_events.c.transaction_index,
            contract_events.c.event_index,
        ],
        ondelete="CASCADE",
        name="fk_reputation_history_event",
    ),
    sa.UniqueConstraint("block_hash", "transaction_index", "event_index"),
    sa.Index("ix_reputation_history_worker_address", "worker_address", "block_number"),
    sa.Index("ix_reputation_history_changed_at", "changed_at"),  # analytics: by day
    # verification changes by worker in chain order: the analytics read them per day (0008)
    sa.Index(
        "ix_reputation_history_verifications",
        "worker_address",
        "block_number",
        "transaction_index",
        "event_index",
        postgresql_where=sa.text("reason IN ('verified', 'unverified')"),
    ),
)

# --------------------------------------------------------------------------------------
# The API's off-chain state (API issue): login challenges and sessions, auth rate limits,
# render settings creators attach to their jobs, and claim attempts with their leases.
# Tables keyed by a job also store the job's `created_tx`: a job id dropped by a reorg can
# be reused by another creator's job, which must not inherit these rows.
# --------------------------------------------------------------------------------------

CLAIM_STATES = ("running", "completed", "verifying", "verified", "rejected", "failed", "expired")
LIVE_STATES = ("running", "completed", "verifying", "verified")
"""A job's live attempt: held, or delivered and not rejected (one per job)."""
VERIFICATION_STATES = ("open", "claimed", "verified", "rejected")

auth_challenges = sa.Table(
    "auth_challenges",
    metadata,
    sa.Column("nonce", Hash, primary_key=True, comment="random felt, hex"),
    sa.Column("address", Address, nullable=False),
    sa.Column("chain_id", Hash, nullable=False),
    sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("used_at", sa.DateTime(timezone=True), comment="set once: challenges are single use"),
    sa.Index("ix_auth_challenges_expires_at", "expires_at"),
    comment="SNIP-12 login challenges handed out by POST /auth/challenge",
)

auth_sessions = sa.Table(
    "auth_sessions",
    metadata,
    sa.Column("session_id", sa.String(64), primary_key=True),
    sa.Column("address", Address, nullable=False),
    sa.Column("roles", sa.ARRAY(sa.String(16)), nullable=False),
    sa.Column("refresh_jti", sa.String(64), nullable=False, comment="the one valid refresh token"),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("refreshed_at", sa.DateTime(timezone=True)),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("revoked_at", sa.DateTime(timezone=True)),
    sa.Column("revoked_reason", sa.String(32)),
    sa.Index("ix_auth_sessions_address", "address"),
    comment="one row per login: refresh tokens rotate through refresh_jti; logout revokes",
)

asset_uploads = sa.Table(
    "asset_uploads",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("address", Address, nullable=False, comment="the uploading account"),
    sa.Column("cid", sa.String(62), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False, comment="bytes, as IPFS counts them"),
    sa.Column(
        "uploaded_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
    sa.Column(
        "unpinned_at",
        sa.DateTime(timezone=True),
        comment="when the uploads sweep unpinned it, no job having used it; NULL: pinned",
    ),
    sa.Index("asset_uploads_by_account", "address", "uploaded_at"),
    sa.Index(
        "asset_uploads_pinned",
        "cid",
        "uploaded_at",
        postgresql_where=sa.text("unpinned_at IS NULL"),
    ),
    comment="scenes uploaded through POST /api/v1/assets, for each account's daily budget",
)

rate_limits = sa.Table(
    "rate_limits",
    metadata,
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("window_start", sa.DateTime(timezone=True), primary_key=True),
    sa.Column("hits", sa.Integer, nullable=False),
    comment="fixed one-minute windows of requests per client and endpoint",
)

job_render_settings = sa.Table(
    "job_render_settings",
    metadata,
    sa.Column("job_id", Felt, primary_key=True),
    sa.Column("created_tx", Hash, nullable=False, comment="the job's creating transaction"),
    sa.Column("frame", sa.Integer, nullable=False),
    sa.Column("resolution_x", sa.Integer, nullable=False),
    sa.Column("resolution_y", sa.Integer, nullable=False),
    sa.Column("samples", sa.Integer, nullable=False),
    sa.Column("engine", sa.String(32), nullable=False),
    sa.Column("output_format", sa.String(24), nullable=False),
    sa.Column("required_devices", sa.ARRAY(sa.String(16)), comment="any of these; NULL: any"),
    sa.Column("min_vram_mb", sa.Integer),
    sa.Column("min_blender_version", sa.ARRAY(sa.Integer), comment="e.g. {4,2}; NULL: any"),
    sa.Column("required_os", sa.ARRAY(sa.String(16)), comment="any of these; NULL: any"),
    sa.Column("set_by", Address, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    comment="render settings the job's creator attached through POST /jobs",
)

RELEASED_PREFIX = "released: "
"""How a voluntary release's `failure_reason` starts: its attempt is `expired` like a lapsed
lease, but it is not a failure (the API writes it, the reputation tables tell them apart)."""

job_attempts = sa.Table(
    "job_attempts",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("job_id", Felt, nullable=False),
    sa.Column("created_tx", Hash, nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False, comment="1, 2, … per job"),
    sa.Column("worker_address", Address, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("heartbeat_at", sa.DateTime(timezone=True)),
    sa.Column("progress", sa.Float),
    sa.Column("status_message", sa.String(500)),
    sa.Column("ended_at", sa.DateTime(timezone=True)),
    sa.Column("result_cid", sa.String(62)),
    sa.Column("result", JSONB, comment="what the worker reported with the result"),
    sa.Column("failure_reason", sa.String(500)),
    sa.Column(
        "recordable_seq",
        sa.BigInteger,
        comment="order in which attempts got an outcome to record (next_recordable_seq())",
    ),
    sa.CheckConstraint(
        "state IN (" + ", ".join(f"'{s}'" for s in CLAIM_STATES) + ")", name="state_known"
    ),
    sa.CheckConstraint("progress BETWEEN 0 AND 1", name="progress_range"),
    # a job has at most one live claim: the partial unique index is the last line of defence
    sa.Index(
        "uq_job_attempts_live",
        "job_id",
        unique=True,
        postgresql_where=sa.text(f"state IN {LIVE_STATES}"),
    ),
    sa.Index("ix_job_attempts_job_id", "job_id", "worker_address", "id"),
    # the render sensor follows attempts with an outcome to record (0012)
    sa.Index(
        "uq_job_attempts_recordable_seq",
        "recordable_seq",
        unique=True,
        postgresql_where=sa.text("recordable_seq IS NOT NULL"),
    ),
    sa.Index("ix_job_attempts_worker_address", "worker_address", "state"),
    # the analytics tables and the activity_days sensor read attempts by time (0007)
    sa.Index("ix_job_attempts_claimed_at", "claimed_at"),
    sa.Index("ix_job_attempts_ended_at", "ended_at"),
    sa.Index(
        "ix_job_attempts_expired_lease",
        "lease_expires_at",
        postgresql_where=sa.text("state = 'expired'"),
    ),
    # the claim cap counts a worker's running attempts; the lease sweep reads them all
    sa.Index(
        "ix_job_attempts_running",
        "worker_address",
        "lease_expires_at",
        postgresql_where=sa.text("state = 'running'"),
    ),
    comment="every claim of a job by a worker: its lease, progress and outcome",
)

verifications = sa.Table(
    "verifications",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("job_id", Felt, nullable=False),
    sa.Column("attempt_id", sa.BigInteger, sa.ForeignKey("job_attempts.id")),
    sa.Column("attempt", sa.Integer),
    sa.Column("worker_address", Address, nullable=False),
    sa.Column("result_cid", sa.String(62), nullable=False),
    sa.Column(
        "noisy_cid",
        sa.String(62),
        comment="a denoised delivery's noisy pass (OpenEXR): what shows the render's cost",
    ),
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("windows", JSONB, nullable=False),
    sa.Column("seeds", JSONB, nullable=False),
    sa.Column(
        "front_ran",
        Address,
        comment="the worker whose live delivery a result on chain took the job from",
    ),
    sa.Column("verifier_address", Address),
    sa.Column("claimed_at", sa.DateTime(timezone=True)),
    sa.Column("lease_expires_at", sa.DateTime(timezone=True)),
    sa.Column("failures", sa.Integer, nullable=False, server_default="0"),
    sa.Column("failure_reasons", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
    sa.Column("report", JSONB),
    sa.Column(
        "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
    sa.CheckConstraint("source IN ('delivery', 'chain')", name="source_known"),
    sa.CheckConstraint(
        "state IN (" + ", ".join(f"'{s}'" for s in VERIFICATION_STATES) + ")", name="state_known"
    ),
    sa.Index(
        "ix_verifications_pending", "id", postgresql_where=sa.text("state IN ('open', 'claimed')")
    ),
    sa.Index("ix_verifications_job_id", "job_id", "id"),
    # eligibility counts a worker's rejections
    sa.Index(
        "ix_verifications_rejected_worker",
        "worker_address",
        postgresql_where=sa.text("state = 'rejected'"),
    ),
    sa.Index(
        "uq_verifications_attempt",
        "attempt_id",
        unique=True,
        postgresql_where=sa.text("attempt_id IS NOT NULL"),
    ),
    sa.Index(
        "uq_verifications_chain_result",
        "job_id",
        "result_cid",
        unique=True,
        postgresql_where=sa.text("source = 'chain'"),
    ),
    # the analytics tables and the activity_days sensor read verdicts by time (0013)
    sa.Index(
        "ix_verifications_finished_at",
        "finished_at",
        postgresql_where=sa.text("finished_at IS NOT NULL"),
    ),
    comment="the verification of each delivered frame: crop windows, seeds, verifier, verdict",
)

SANCTION_CAUSES = ("forged result on chain", "rejected deliveries")
sanctions = sa.Table(
    "sanctions",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("worker_address", Address, nullable=False),
    sa.Column("verification_id", sa.BigInteger, sa.ForeignKey("verifications.id"), nullable=False),
    sa.Column("job_id", Felt, nullable=False),
    sa.Column("cause", sa.String(32), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("amount", sa.Integer),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("transaction_hash", Hash),
    sa.Column("detail", sa.String(500)),
    sa.Column("run_id", sa.String(64)),
    sa.Column(
        "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
    sa.CheckConstraint(
        "cause IN (" + ", ".join(f"'{c}'" for c in SANCTION_CAUSES) + ")", name="cause_known"
    ),
    sa.CheckConstraint("outcome IN ('sent', 'failed')", name="outcome_known"),
    # one sent action of a kind per verification: a re-run never sanctions twice
    sa.Index(
        "uq_sanctions_sent",
        "verification_id",
        "action",
        unique=True,
        postgresql_where=sa.text("outcome = 'sent'"),
    ),
    sa.Index("ix_sanctions_worker", "worker_address", "id"),
    sa.Index("ix_sanctions_created_at", "created_at"),  # analytics: by day (0013)
    comment="actions the operator's account took against cheats, and their outcomes",
)

pipes_messages = sa.Table(
    "pipes_messages",
    metadata,
    sa.Column(
        "attempt_id",
        sa.BigInteger,
        sa.ForeignKey("job_attempts.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("seq", sa.Integer, primary_key=True, comment="0, 1, … per attempt, no gaps"),
    sa.Column("job_id", Felt, nullable=False),
    sa.Column("method", sa.String(64), nullable=False),
    sa.Column("message", JSONB, nullable=False, comment="the Dagster Pipes message, as sent"),
    sa.Column(
        "received_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
    sa.CheckConstraint("seq >= 0", name="seq_non_negative"),
    sa.Index("ix_pipes_messages_job_id", "job_id", "attempt_id", "seq"),
    comment="the Dagster Pipes messages of each attempt (logs, progress, materialization), "
    "in order and once; the render run replays them",
)
