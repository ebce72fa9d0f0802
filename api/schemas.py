"""Response shapes. u256 amounts and CID felts are decimal strings: JSON numbers lose
precision past 2^53 in most clients."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from veriframe_core.chain.addresses import normalize_address
from veriframe_core.chain.cids import cid_to_felts

Address = Annotated[str, AfterValidator(normalize_address)]
"""A StarkNet address in any hex/decimal form; normalised to 0x + 64 hex digits."""

JobStatus = Literal["open", "assigned", "completed", "submitted", "finalized", "expired"]
BigInt = Annotated[str, Field(pattern=r"^\d+$", description="an integer as decimal text")]

T = TypeVar("T")


def _no_nul(value: Any) -> Any:
    """Postgres text and JSONB cannot hold U+0000: refuse it (422) rather than fail (500)."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("text must not contain NUL (U+0000) characters")
    elif isinstance(value, dict):
        for key, item in value.items():
            _no_nul(key)
            _no_nul(item)
    elif isinstance(value, list):
        for item in value:
            _no_nul(item)
    return value


Text = Annotated[str, AfterValidator(_no_nul)]
"""Free text stored in Postgres."""
JsonObject = Annotated[dict[str, Any], AfterValidator(_no_nul)]
"""A free-form JSON object stored as JSONB."""


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
    ipfs: dict[str, Any]
    chain: dict[str, Any]


# ----------------------------------------------------------------- render settings, claims
Engine = Literal["CYCLES", "BLENDER_EEVEE", "BLENDER_EEVEE_NEXT", "BLENDER_WORKBENCH"]
OutputFormat = Literal["PNG", "JPEG", "OPEN_EXR", "TIFF", "WEBP"]
Device = Literal["OPTIX", "CUDA", "HIP", "ONEAPI", "METAL", "CPU"]
OperatingSystem = Literal["linux", "windows", "macos"]
BlenderVersion = Annotated[
    str, Field(pattern=r"^\d{1,3}(\.\d{1,3}){0,2}$", examples=["4.2", "5.0.1"])
]


def version_numbers(version: str | None) -> list[int] | None:
    """A BlenderVersion as its numbers ("4.2" → [4, 2]): Postgres compares int arrays in
    version order."""
    return [int(p) for p in version.split(".")] if version else None


def _result_cid(value: str) -> str:
    if not CID_PATTERN.fullmatch(value):
        raise ValueError("not a CIDv0 (Qm…, base58) or base32 CIDv1 (b…)")
    cid_to_felts(value)  # fits the contract's two short strings
    return value


CID_PATTERN = re.compile(r"Qm[1-9A-HJ-NP-Za-km-z]{44}|b[a-z2-7]{58,61}")
ResultCid = Annotated[str, Field(max_length=62), AfterValidator(_result_cid)]


class RequiredCapabilities(BaseModel):
    model_config = ConfigDict(extra="forbid")

    devices: list[Device] | None = Field(
        None, min_length=1, description="any of these render devices (Cycles backends)"
    )
    min_vram_mb: int | None = Field(None, ge=1, le=10**7)
    min_blender_version: BlenderVersion | None = None
    os: list[OperatingSystem] | None = Field(None, min_length=1)


class RenderSettingsIn(BaseModel):
    """What the creator wants rendered; every field has the default a worker would use."""

    model_config = ConfigDict(extra="forbid")

    frame: int = Field(1, ge=0, le=1_048_574)
    resolution_x: int = Field(1920, ge=1, le=16384)
    resolution_y: int = Field(1080, ge=1, le=16384)
    samples: int = Field(128, ge=1, le=65536)
    engine: Engine = "CYCLES"
    output_format: OutputFormat = "PNG"
    required_capabilities: RequiredCapabilities = Field(default_factory=RequiredCapabilities)


class RenderSettings(RenderSettingsIn):
    custom: bool = Field(description="false: the creator attached none, these are the defaults")


class JobSettingsRequest(RenderSettingsIn):
    job_id: int = Field(ge=1, lt=2**251, description="the chain job id")


class Claim(BaseModel):
    job_id: int
    attempt: int
    worker_address: str
    state: Literal["running", "completed", "failed", "expired"]
    claimed_at: datetime
    lease_expires_at: datetime
    heartbeat_at: datetime | None
    progress: float | None
    status_message: str | None
    ended_at: datetime | None
    result_cid: str | None
    result: dict[str, Any] | None
    failure_reason: str | None


class JobDetail(Job):
    render_settings: RenderSettings
    claim: Claim | None = Field(description="the live attempt (running or completed), if any")


class AvailableJob(Job):
    render_settings: RenderSettings


class Eligibility(BaseModel):
    address: str
    eligible: bool
    reason: str | None = Field(description="why no job is offered, when not eligible")


class AvailablePage(Page[AvailableJob]):
    worker: Eligibility


class HeartbeatRequest(BaseModel):
    progress: float = Field(ge=0, le=1, description="fraction done, 0-1 (never goes back)")
    message: Text | None = Field(None, max_length=500)


class CompleteRequest(BaseModel):
    result_cid: ResultCid
    render_time_s: float | None = Field(None, ge=0, le=10**7)
    device: Device | None = None
    metadata: JsonObject = Field(
        default_factory=dict, description="anything else the worker reports (kept as JSON)"
    )


class FailRequest(BaseModel):
    reason: Text = Field(min_length=1, max_length=500)


class FailResult(BaseModel):
    claim: Claim
    failures: int = Field(description="the caller's failed attempts on this job")
    blocked: bool = Field(description="true: the caller may not claim this job again")


# ----------------------------------------------------------------- worker profile
class Capabilities(BaseModel):
    model_config = ConfigDict(extra="forbid")

    gpu_model: Text | None = Field(None, max_length=100, examples=["NVIDIA RTX 4090"])
    vram_mb: int | None = Field(None, ge=0, le=10**7)
    devices: list[Device] | None = Field(None, description="render devices Cycles can use")
    blender_version: BlenderVersion | None = None
    os: OperatingSystem | None = None


class WorkerProfileRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    capabilities: Capabilities = Field(default_factory=Capabilities)
    hardware_specs: JsonObject | None = Field(
        None, description="free-form hardware details (CPU, RAM, driver versions)"
    )
    contact_info: Text | None = Field(None, max_length=255)
    active: bool = Field(True, description="false: the worker takes no jobs for now")


PipesMethod = Literal[
    "opened",
    "closed",
    "log",
    "report_asset_materialization",
    "report_asset_check",
    "report_custom_message",
    "log_external_stream",
]
MAX_PIPES_MESSAGE_BYTES = 64 * 1024
MAX_PIPES_BATCH = 500


class PipesMessage(BaseModel):
    """One Dagster Pipes message, as `dagster_pipes` writes it."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    version: str = Field(alias="__dagster_pipes_version", min_length=1, max_length=16)
    method: PipesMethod
    params: JsonObject | None = None

    @model_validator(mode="after")
    def _small_and_about_the_render(self) -> PipesMessage:
        size = len(json.dumps(self.params or {}))
        if size > MAX_PIPES_MESSAGE_BYTES:
            raise ValueError(f"a message may hold {MAX_PIPES_MESSAGE_BYTES:,} bytes, not {size:,}")
        asset = (self.params or {}).get("asset_key")
        if self.method.startswith("report_asset") and asset not in (None, "render"):
            raise ValueError(f"messages may report on the `render` asset only, not {asset!r}")
        return self


class PipesMessagesIn(BaseModel):
    attempt: int = Field(ge=1, description="the attempt the messages belong to (its number)")
    first_seq: int = Field(ge=0, description="the sequence number of the first message")
    messages: list[PipesMessage] = Field(min_length=1, max_length=MAX_PIPES_BATCH)


class PipesMessagesStored(BaseModel):
    stored: int = Field(description="messages of this batch stored now (a retry stores none)")
    next_seq: int = Field(description="the sequence number the next batch starts at")
