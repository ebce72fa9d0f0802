"""Response shapes. u256 amounts and CID felts are decimal strings: JSON numbers lose
precision past 2^53 in most clients."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, Field

from veriframe_dagster.chain.addresses import normalize_address

Address = Annotated[str, AfterValidator(normalize_address)]
"""A StarkNet address in any hex/decimal form; normalised to 0x + 64 hex digits."""

JobStatus = Literal["open", "assigned", "completed", "submitted", "finalized", "expired"]
BigInt = Annotated[str, Field(pattern=r"^\d+$", description="an integer as decimal text")]

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    limit: int
    offset: int
    next_offset: int | None = Field(description="offset of the next page; null on the last")


class Worker(BaseModel):
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
    workers: int
    registered: int
    verified: int
    active: int
    average_reputation: float | None
    jobs_completed: int
    jobs_failed: int


class Job(BaseModel):
    job_id: int
    creator_address: str
    asset_cid: str | None
    asset_cid_part1: BigInt
    asset_cid_part2: BigInt
    reward_amount: BigInt
    deadline: datetime
    min_reputation: int
    status: JobStatus
    worker_address: str | None
    result_cid: str | None
    quality_score: int | None
    created_at: datetime
    submitted_at: datetime | None
    finalized_at: datetime | None
    created_block: int
    created_tx: str
    updated_block: int


class JobStats(BaseModel):
    jobs: int
    by_status: dict[str, int]
    escrowed_reward: BigInt = Field(
        description="rewards of open, assigned, completed and submitted jobs"
    )
    paid_reward: BigInt = Field(description="rewards of finalized jobs")


class Event(BaseModel):
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
    events: int
    by_name: dict[str, int]
    first_block: int | None
    last_block: int | None


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    database: str
    chain: dict[str, Any]
