"""The read side's shapes (workers, events, statistics, health) and the creator's render
settings request. The worker protocol's messages live in `veriframe_core.protocol`, shared
with the agent; u256 amounts and CID felts are decimal strings there and here."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from veriframe_core.protocol import (
    CREATOR,
    JOB_EXAMPLE,
    SETTINGS_EXAMPLE,
    WORKER,
    BigInt,
    RenderSettingsIn,
    examples,
)


class Worker(BaseModel):
    model_config = examples(
        {
            "address": WORKER,
            "registered": True,
            "verified": True,
            "reputation": 540,
            "jobs_completed": 12,
            "jobs_failed": 1,
            "total_earnings": "12000000000000000000",
            "info_cid": None,
            "registered_at": "2026-12-01T10:00:00Z",
            "verified_at": "2026-12-01T10:05:00Z",
            "verified_by": CREATOR,
            "capabilities": {"devices": ["OPTIX", "CPU"], "vram_mb": 24564},
            "hardware_specs": {"cpu_count": 16},
            "contact_info": None,
            "active": True,
            "last_seen": "2026-12-07T08:00:00Z",
            "updated_block": 118,
        }
    )

    address: str
    registered: bool
    verified: bool
    reputation: int
    jobs_completed: int
    jobs_failed: int
    total_earnings: BigInt
    info_cid: BigInt | None
    registered_at: datetime | None
    verified_at: datetime | None
    verified_by: str | None
    capabilities: dict[str, Any] | None
    hardware_specs: dict[str, Any] | None
    contact_info: str | None
    active: bool
    last_seen: datetime | None
    updated_block: int | None


class ReputationChange(BaseModel):
    model_config = examples(
        {
            "worker_address": WORKER,
            "job_id": 7,
            "old_reputation": 500,
            "new_reputation": 540,
            "change_amount": 40,
            "reason": "job rated",
            "quality_score": 90,
            "changed_by": CREATOR,
            "block_number": 131,
            "transaction_hash": "0x61b" + "0" * 61,
            "changed_at": "2026-12-07T09:00:00Z",
        }
    )

    worker_address: str
    job_id: int | None
    old_reputation: int
    new_reputation: int
    change_amount: int
    reason: str
    quality_score: int | None
    changed_by: str | None
    block_number: int
    transaction_hash: str
    changed_at: datetime


class WorkerStats(BaseModel):
    model_config = examples(
        {
            "workers": 40,
            "registered": 38,
            "verified": 35,
            "active": 30,
            "average_reputation": 512.5,
            "jobs_completed": 920,
            "jobs_failed": 31,
        }
    )

    workers: int
    registered: int
    verified: int
    active: int
    average_reputation: float | None
    jobs_completed: int
    jobs_failed: int


class JobStats(BaseModel):
    model_config = examples(
        {
            "jobs": 12,
            "by_status": {"open": 3, "assigned": 2, "finalized": 7},
            "escrowed_reward": "5000000000000000000",
            "paid_reward": "7000000000000000000",
        }
    )

    jobs: int
    by_status: dict[str, int]
    escrowed_reward: BigInt = Field(
        description="rewards of open, assigned, completed and submitted jobs"
    )
    paid_reward: BigInt = Field(description="rewards of finalized jobs")


class Event(BaseModel):
    model_config = examples(
        {
            "id": 301,
            "contract_address": "0x" + "0" * 60 + "f00d",
            "event_name": "JobCreated",
            "block_number": 120,
            "block_hash": "0x7a1" + "0" * 61,
            "block_timestamp": "2026-12-07T08:00:00Z",
            "transaction_hash": JOB_EXAMPLE["created_tx"],
            "transaction_index": 0,
            "event_index": 1,
            "job_id": 7,
            "worker_address": None,
            "decoded": {"job_id": "7", "creator": CREATOR, "reward": "1000000000000000000"},
            "context": {},
            "keys": ["0x1a2b", "0x7"],
            "data": ["0xde0b6b3a7640000"],
        }
    )

    id: int
    contract_address: str
    event_name: str
    block_number: int
    block_hash: str
    block_timestamp: datetime
    transaction_hash: str
    transaction_index: int
    event_index: int
    job_id: int | None
    worker_address: str | None
    decoded: dict[str, Any]
    context: dict[str, Any]
    keys: list[str]
    data: list[str]


class EventStats(BaseModel):
    model_config = examples(
        {
            "events": 1840,
            "by_name": {"JobCreated": 12, "WorkerRegistered": 40},
            "first_block": 3,
            "last_block": 131,
        }
    )

    events: int
    by_name: dict[str, int]
    first_block: int | None
    last_block: int | None


class Liveness(BaseModel):
    """The process answers; nothing else is asked (a liveness probe restarts on failure)."""

    model_config = examples({"status": "ok"})

    status: Literal["ok"]


class Readiness(BaseModel):
    """Each part the API needs, and which of them keep it from serving (`failing`)."""

    model_config = examples(
        {
            "status": "ok",
            "failing": {},
            "warnings": {},
            "database": "ok",
            "ipfs": {"status": "ok", "url": "http://127.0.0.1:5001", "version": "0.32.1"},
            "chain": {
                "rpc": "ok",
                "head": 131,
                "cursor": 131,
                "lag_blocks": 0,
                "lag_seconds": 0.0,
                "max_lag_blocks": 5,
            },
            "dagster": {"daemon": {"status": "ok", "heartbeat_age_s": 12.4, "stale_after_s": 90.0}},
        },
        {
            "status": "not_ready",
            "failing": {
                "ipfs": "IPFS node at http://127.0.0.1:5001 unreachable (ConnectError)",
                "ingestion": "ingestion trails the head by 12 blocks (at most 5)",
            },
            "warnings": {
                "dagster_daemon": "Dagster's daemon's last heartbeat is 412 s old (at most 90 s): "
                "it is down or frozen, so deliveries are not recorded nor jobs settled"
            },
            "database": "ok",
            "ipfs": {"status": "unreachable", "url": "http://127.0.0.1:5001", "version": None},
            "chain": {
                "rpc": "ok",
                "head": 143,
                "cursor": 131,
                "lag_blocks": 12,
                "lag_seconds": 36.0,
                "max_lag_blocks": 5,
            },
            "dagster": {
                "daemon": {"status": "stale", "heartbeat_age_s": 412.0, "stale_after_s": 90.0}
            },
        },
    )

    status: Literal["ok", "not_ready"]
    failing: dict[str, str] = Field(
        description="each failing part (database, chain, ipfs, ingestion) and why, in one line"
    )
    warnings: dict[str, str] = Field(
        description="parts that are down without keeping the API from serving "
        "(dagster_daemon) and why, in one line"
    )
    database: Literal["ok", "unreachable"]
    ipfs: dict[str, Any]
    chain: dict[str, Any]
    dagster: dict[str, Any] = Field(
        description="Dagster's daemon (`daemon`): its status (ok, stale, no_heartbeat, "
        "unreachable), the age of its latest heartbeat and the age at which it is stale"
    )


class Service(BaseModel):
    model_config = examples(
        {
            "service": "veriframe-api",
            "api": "/api/v1",
            "docs": "/docs",
            "health": "/health",
            "ready": "/ready",
            "metrics": "/metrics",
        }
    )

    service: str
    api: str
    docs: str
    health: str
    ready: str
    metrics: str


class JobSettingsRequest(RenderSettingsIn):
    """The render settings a creator attaches to its job."""

    model_config = examples(
        {"job_id": 7, **{k: v for k, v in SETTINGS_EXAMPLE.items() if k != "custom"}}
    )

    job_id: int = Field(ge=1, lt=2**251, description="the chain job id")


def version_numbers(version: str | None) -> list[int] | None:
    """A BlenderVersion as its numbers ("4.2" → [4, 2]): Postgres compares int arrays in
    version order."""
    return [int(p) for p in version.split(".")] if version else None
