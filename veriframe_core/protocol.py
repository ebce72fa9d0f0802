"""The wire contract between the API and its clients: every message of the worker protocol
(login, job offer, claim, attempt, heartbeat, completion, failure, release, the Pipes
context and messages) and the one error shape, as pydantic models.

The API declares its routes with them and the agent (and `veriframe submit`) parses answers
into them and builds requests from them, so both sides read one definition, as Flamenco's
manager and worker share their generated types. Only pydantic and the chain's value helpers
are imported here (an import contract in pyproject.toml keeps FastAPI, Dagster and
SQLAlchemy out): a GPU node installs it as it is. u256 amounts and CID felts travel as
decimal strings, since JSON numbers lose precision past 2^53 in most clients.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Annotated, Any, Generic, Literal, Protocol, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from veriframe_core.chain.addresses import normalize_address, parse_felt
from veriframe_core.chain.cids import cid_to_felts
from veriframe_core.verification import Window

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


def _result_cid(value: str) -> str:
    if not CID_PATTERN.fullmatch(value):
        raise ValueError("not a CIDv0 (Qm…, base58) or base32 CIDv1 (b…)")
    cid_to_felts(value)  # fits the contract's two short strings
    return value


Address = Annotated[str, AfterValidator(normalize_address)]
"""A StarkNet address in any hex/decimal form; normalised to 0x + 64 hex digits."""
BigInt = Annotated[str, Field(pattern=r"^\d+$", description="an integer as decimal text")]
Text = Annotated[str, AfterValidator(_no_nul)]
"""Free text stored in Postgres."""
JsonObject = Annotated[dict[str, Any], AfterValidator(_no_nul)]
"""A free-form JSON object stored as JSONB."""
CID_PATTERN = re.compile(r"Qm[1-9A-HJ-NP-Za-km-z]{44}|b[a-z2-7]{58,61}")
ResultCid = Annotated[str, Field(max_length=62), AfterValidator(_result_cid)]

JobStatus = Literal["open", "assigned", "completed", "submitted", "finalized", "expired"]
RenderEngine = Literal["CYCLES", "BLENDER_EEVEE", "BLENDER_EEVEE_NEXT", "BLENDER_WORKBENCH"]
OutputFormat = Literal["PNG", "JPEG", "OPEN_EXR", "OPEN_EXR_MULTILAYER", "TIFF"]
"""What the frame checks read and the verifier reproduces (not WebP: its lossy coding
predicts each block from its neighbours, so a verifier cannot re-code a window alone)."""
Device = Literal["OPTIX", "CUDA", "HIP", "ONEAPI", "METAL", "CPU"]
OperatingSystem = Literal["linux", "windows", "macos"]
BlenderVersion = Annotated[
    str, Field(pattern=r"^\d{1,3}(\.\d{1,3}){0,2}$", examples=["4.2", "5.0.1"])
]


def examples(*documents: dict[str, Any], **config: Any) -> ConfigDict:
    """A model's config with its examples, which the OpenAPI document shows per operation."""
    return ConfigDict(json_schema_extra={"examples": list(documents)}, **config)


def example_of(model: type[BaseModel]) -> dict[str, Any]:
    """The first example a model declares (`examples`)."""
    return model.model_config["json_schema_extra"]["examples"][0]  # type: ignore[index]


# ---------------------------------------------------------------- examples, written once
CREATOR = "0x" + "0" * 60 + "c0de"
WORKER = "0x" + "0" * 60 + "beef"
ASSET_CID = "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG"
RESULT_CID = "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi"
JOB_EXAMPLE: dict[str, Any] = {
    "job_id": 7,
    "creator_address": CREATOR,
    "asset_cid": ASSET_CID,
    "asset_cid_part1": str(cid_to_felts(ASSET_CID)[0]),
    "asset_cid_part2": str(cid_to_felts(ASSET_CID)[1]),
    "reward_amount": "1000000000000000000",
    "deadline": "2026-12-08T12:00:00Z",
    "min_reputation": 0,
    "status": "assigned",
    "worker_address": None,
    "result_cid": None,
    "quality_score": None,
    "created_at": "2026-12-07T08:00:00Z",
    "submitted_at": None,
    "finalized_at": None,
    "created_block": 120,
    "created_tx": "0x5f2a" + "0" * 60,
    "updated_block": 120,
}
SETTINGS_EXAMPLE: dict[str, Any] = {
    "frame": 1,
    "resolution_x": 1920,
    "resolution_y": 1080,
    "samples": 128,
    "engine": "CYCLES",
    "output_format": "PNG",
    "required_capabilities": {
        "devices": ["OPTIX", "CUDA"],
        "min_vram_mb": 8000,
        "min_blender_version": "4.2",
        "os": None,
    },
    "custom": True,
}
CLAIM_EXAMPLE: dict[str, Any] = {
    "job_id": 7,
    "attempt": 1,
    "worker_address": WORKER,
    "state": "running",
    "claimed_at": "2026-12-07T08:01:00Z",
    "lease_expires_at": "2026-12-07T08:03:00Z",
    "heartbeat_at": "2026-12-07T08:01:30Z",
    "progress": 0.25,
    "status_message": "Sample 32/128",
    "ended_at": None,
    "result_cid": None,
    "result": None,
    "failure_reason": None,
}
CLAIMED_EXAMPLE = {**JOB_EXAMPLE, "render_settings": SETTINGS_EXAMPLE, "claim": CLAIM_EXAMPLE}
CROP_EXAMPLE: dict[str, Any] = {
    "noise_ratio": 1.03,
    "noise_z": 0.4,
    "bias_z": 0.9,
    "bias_levels": 0.02,
    "noise_level": 3.1,
    "expected_levels2": 16.4,
    "pixels": 5184,
}
REPORT_EXAMPLE: dict[str, Any] = {
    "verdict": "verified",
    "reasons": [],
    "crops": [CROP_EXAMPLE],
    "noise_ratio": 1.03,
    "noise_z": 0.4,
    "noise_level": 3.1,
    "seconds": 4.2,
    "cpu_seconds": 5.7,
    "device": "CPU",
    "blender_version": "5.0.1",
}
VERIFICATION_EXAMPLE: dict[str, Any] = {
    "verification_id": 12,
    "job_id": 7,
    "attempt": 1,
    "worker_address": WORKER,
    "result_cid": RESULT_CID,
    "source": "delivery",
    "front_ran": None,
    "state": "verified",
    "windows": [{"x": 412, "y": 96, "width": 72, "height": 72}],
    "seeds": [183_920_417, 1_207_334_981],
    "verifier_address": CREATOR,
    "lease_expires_at": None,
    "failures": 0,
    "report": REPORT_EXAMPLE,
    "created_at": "2026-12-07T12:00:00Z",
    "finished_at": "2026-12-07T12:00:09Z",
}
TASK_EXAMPLE: dict[str, Any] = {
    **VERIFICATION_EXAMPLE,
    "state": "claimed",
    "report": None,
    "finished_at": None,
    "lease_expires_at": "2026-12-07T12:05:02Z",
    "asset_cid": ASSET_CID,
    "render_settings": SETTINGS_EXAMPLE,
}


# ---------------------------------------------------------------- jobs as offered
def _page_example(schema: dict[str, Any], model: type[BaseModel]) -> None:
    """A page's example: one item of the item model's example (`Page[Job]` shows a job)."""
    (item,) = model.__pydantic_generic_metadata__["args"] or (None,)
    if (
        isinstance(item, type)
        and issubclass(item, BaseModel)
        and "json_schema_extra" in (item.model_config)
    ):
        page = {"items": [example_of(item)], "limit": 50, "offset": 0, "next_offset": None}
        schema["examples"] = [page]


class Page(BaseModel, Generic[T]):
    model_config = ConfigDict(json_schema_extra=_page_example)

    items: list[T]
    limit: int
    offset: int
    next_offset: int | None = Field(description="offset of the next page; null on the last")


class Job(BaseModel):
    model_config = examples(JOB_EXAMPLE)

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
    engine: RenderEngine = "CYCLES"
    output_format: OutputFormat = "PNG"
    required_capabilities: RequiredCapabilities = Field(default_factory=RequiredCapabilities)


class RenderSettings(RenderSettingsIn):
    model_config = examples(SETTINGS_EXAMPLE)

    custom: bool = Field(description="false: the creator attached none, these are the defaults")


class AvailableJob(Job):
    """A job offer: what `GET /jobs/available` lists."""

    model_config = examples({**JOB_EXAMPLE, "status": "open", "render_settings": SETTINGS_EXAMPLE})

    render_settings: RenderSettings


class Eligibility(BaseModel):
    address: str
    eligible: bool
    reason: str | None = Field(description="why no job is offered, when not eligible")


class AvailablePage(Page[AvailableJob]):
    model_config = examples(
        {
            "items": [example_of(AvailableJob)],
            "limit": 50,
            "offset": 0,
            "next_offset": None,
            "worker": {"address": WORKER, "eligible": True, "reason": None},
        }
    )

    worker: Eligibility


# ---------------------------------------------------------------- claims and attempts
AttemptState = Literal[
    "running", "completed", "verifying", "verified", "rejected", "failed", "expired"
]
"""An attempt's life: claimed and `running`; delivered (`completed`), being verified
(`verifying`), then `verified` or `rejected` (the job reopens for others); or ended
without a delivery (`failed`, `expired`)."""


class Claim(BaseModel):
    """One attempt at a job: its lease, progress and end."""

    model_config = examples(CLAIM_EXAMPLE)

    job_id: int
    attempt: int
    worker_address: str
    state: AttemptState
    claimed_at: datetime
    lease_expires_at: datetime
    heartbeat_at: datetime | None
    progress: float | None
    status_message: str | None
    ended_at: datetime | None
    result_cid: str | None
    result: dict[str, Any] | None
    failure_reason: str | None

    @property
    def lease_s(self) -> float:
        """The lease the API grants, as the claim shows it."""
        return (self.lease_expires_at - self.claimed_at).total_seconds()


class JobDetail(Job):
    model_config = examples(CLAIMED_EXAMPLE)

    render_settings: RenderSettings
    claim: Claim | None = Field(description="the live attempt (running or completed), if any")
    verification: Verification | None = Field(
        None, description="the verification of the latest delivery, if any"
    )


class ClaimedJob(JobDetail):
    """A job the caller has just claimed: its document with the new attempt."""

    claim: Claim = Field(description="the caller's attempt")


class HeartbeatRequest(BaseModel):
    model_config = examples({"progress": 0.25, "message": "Sample 32/128"})

    progress: float = Field(ge=0, le=1, description="fraction done, 0-1 (never goes back)")
    message: Text | None = Field(None, max_length=500)


class CompleteRequest(BaseModel):
    model_config = examples(
        {
            "result_cid": RESULT_CID,
            "render_time_s": 41.2,
            "device": "OPTIX",
            "metadata": {"blender_version": "4.2.3", "width": 1920, "height": 1080},
        }
    )

    result_cid: ResultCid
    noisy_cid: ResultCid | None = Field(
        None,
        description="with a denoised frame, the render before the denoiser (its noisy pass, an "
        "OpenEXR), which verification needs: a denoised delivery without it is rejected",
    )
    render_time_s: float | None = Field(None, ge=0, le=10**7)
    device: Device | None = None
    metadata: JsonObject = Field(
        default_factory=dict, description="anything else the worker reports (kept as JSON)"
    )


class FailRequest(BaseModel):
    """Why an attempt ends early: a failure (`/fail`) or a release (`/release`)."""

    model_config = examples({"reason": "Blender ran out of memory (limit 16384 MB)"})

    reason: Text = Field(min_length=1, max_length=500)


class FailResult(BaseModel):
    model_config = examples(
        {
            "claim": {**CLAIM_EXAMPLE, "state": "failed", "failure_reason": "out of memory"},
            "failures": 1,
            "blocked": False,
        }
    )

    claim: Claim
    failures: int = Field(description="the caller's failed attempts on this job")
    blocked: bool = Field(description="true: the caller may not claim this job again")


# ---------------------------------------------------------------- the worker's profile
# ---------------------------------------------------------------- verification
class CropScoreOut(BaseModel):
    """One crop's statistics (`render_executor.verification.compare.CropScore`)."""

    model_config = examples(CROP_EXAMPLE)

    noise_ratio: float = Field(description="the delivery's deviation over honest noise; ≈1")
    noise_z: float = Field(description="its distance from honest, in standard errors")
    bias_z: float
    bias_levels: float = Field(description="the largest channel's mean shift, 8-bit levels")
    noise_level: float = Field(description="RMS noise of one reference render, 8-bit levels")
    expected_levels2: float
    pixels: int


class VerificationReport(BaseModel):
    """What a verifier found (`POST /api/v1/verifications/{id}/report`)."""

    model_config = examples(REPORT_EXAMPLE)

    verdict: Literal["verified", "rejected"]
    reasons: list[Text] = Field(default_factory=list, max_length=100)
    crops: list[CropScoreOut] = Field(max_length=256)
    noise_ratio: float
    noise_z: float
    noise_level: float
    seconds: float = Field(ge=0)
    cpu_seconds: float = Field(ge=0)
    device: Text = Field(max_length=40)
    blender_version: Text = Field(max_length=40)
    comparison_cid: ResultCid | None = Field(
        None, description="an image of each crop as delivered beside the verifier's render"
    )
    guided: list[Window] = Field(
        default_factory=list,
        max_length=128,
        description="windows the verifier placed itself, where a preview of the whole frame "
        "disagreed most with the delivery; `crops` scores the drawn windows, then these",
    )
    noisy_crops: list[CropScoreOut] = Field(
        default_factory=list,
        max_length=256,
        description="a denoised frame's noisy pass (the render before the denoiser), scored "
        "in the same windows as `crops`: what shows the render's cost",
    )
    redone: bool = Field(
        False,
        description="the frame was judged against its own delivered passes denoised again "
        "(a denoised job): `crops` score that deviation over what rounding explains, not "
        "seed noise",
    )

    @model_validator(mode="after")
    def _verdict_has_reasons(self) -> VerificationReport:
        if self.verdict == "rejected" and not self.reasons:
            raise ValueError("a rejection says why (reasons)")
        return self


class VerificationFailure(BaseModel):
    """A verifier could not verify (`POST /api/v1/verifications/{id}/fail`): the task is
    offered again, and after `verification_max_failures` the delivery is rejected."""

    model_config = examples({"reason": "Blender could not render the file: missing DNA block"})

    reason: Text = Field(min_length=1, max_length=500)


class Verification(BaseModel):
    """The verification of one delivery: what is re-rendered, by whom, and the verdict."""

    model_config = examples(VERIFICATION_EXAMPLE)

    verification_id: int
    job_id: int
    attempt: int | None = Field(
        description="the delivering attempt; null for a result that "
        "reached the chain without a delivery"
    )
    worker_address: str = Field(description="who delivered the frame")
    result_cid: str
    noisy_cid: str | None = Field(
        None, description="a denoised delivery's noisy pass, which is verified beside the frame"
    )
    source: Literal["delivery", "chain"] = Field(
        description="a delivery through the API, or a result found on chain without one"
    )
    front_ran: str | None = Field(
        description="for a result on chain: the worker whose delivery it took the job from"
    )
    state: Literal["open", "claimed", "verified", "rejected"]
    windows: list[Window]
    seeds: list[int]
    verifier_address: str | None
    lease_expires_at: datetime | None
    failures: int = Field(description="verifiers that could not verify it")
    report: VerificationReport | None
    created_at: datetime
    finished_at: datetime | None


class VerificationTask(Verification):
    """A verification a verifier has just claimed, with what it needs to do it."""

    model_config = examples(TASK_EXAMPLE)

    asset_cid: str = Field(description="the job's scene")
    render_settings: RenderSettings


class Capabilities(BaseModel):
    model_config = ConfigDict(extra="forbid")

    gpu_model: Text | None = Field(None, max_length=100, examples=["NVIDIA RTX 4090"])
    vram_mb: int | None = Field(None, ge=0, le=10**7)
    devices: list[Device] | None = Field(None, description="render devices Cycles can use")
    blender_version: BlenderVersion | None = None
    os: OperatingSystem | None = None


class WorkerProfileRequest(BaseModel):
    model_config = examples(
        {
            "capabilities": {
                "gpu_model": "NVIDIA RTX 4090",
                "vram_mb": 24564,
                "devices": ["OPTIX", "CUDA", "CPU"],
                "blender_version": "4.2",
                "os": "linux",
            },
            "hardware_specs": {"cpu": "x86_64", "cpu_count": 16},
            "contact_info": "ops@example.org",
            "active": True,
        },
        extra="forbid",
    )

    capabilities: Capabilities = Field(default_factory=Capabilities)
    hardware_specs: JsonObject | None = Field(
        None, description="free-form hardware details (CPU, RAM, driver versions)"
    )
    contact_info: Text | None = Field(None, max_length=255)
    active: bool = Field(True, description="false: the worker takes no jobs for now")


# ---------------------------------------------------------------- Dagster Pipes over the API
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
RENDER_ASSET = "render"
PIPES_VERSION = "__dagster_pipes_version"


class PipesMessage(BaseModel):
    """One Dagster Pipes message, as `dagster_pipes` writes it."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    version: str = Field(alias=PIPES_VERSION, min_length=1, max_length=16)
    method: PipesMethod
    params: JsonObject | None = None

    @model_validator(mode="after")
    def _small_and_about_the_render(self) -> PipesMessage:
        size = len(json.dumps(self.params or {}))
        if size > MAX_PIPES_MESSAGE_BYTES:
            raise ValueError(f"a message may hold {MAX_PIPES_MESSAGE_BYTES:,} bytes, not {size:,}")
        asset = (self.params or {}).get("asset_key")
        if self.method.startswith("report_asset") and asset not in (None, RENDER_ASSET):
            raise ValueError(f"messages may report on the `render` asset only, not {asset!r}")
        return self


class PipesMessagesIn(BaseModel):
    model_config = examples(
        {
            "attempt": 1,
            "first_seq": 0,
            "messages": [
                {PIPES_VERSION: "0.1", "method": "opened", "params": {"extras": {}}},
                {
                    PIPES_VERSION: "0.1",
                    "method": "log",
                    "params": {"message": "Downloaded the asset", "level": "INFO"},
                },
            ],
        }
    )

    attempt: int = Field(ge=1, description="the attempt the messages belong to (its number)")
    first_seq: int = Field(ge=0, description="the sequence number of the first message")
    messages: list[PipesMessage] = Field(min_length=1, max_length=MAX_PIPES_BATCH)


class PipesMessagesStored(BaseModel):
    model_config = examples({"stored": 2, "next_seq": 2})

    stored: int = Field(description="messages of this batch stored now (a retry stores none)")
    next_seq: int = Field(description="the sequence number the next batch starts at")


class PartitionKeyRange(BaseModel):
    start: str
    end: str


class PipesExtras(BaseModel):
    job: JobDetail = Field(description="the claimed job's document")
    attempt: int = Field(description="the attempt's number")


class PipesContext(BaseModel):
    """An attempt's `PipesContextData` (what `dagster_pipes` loads): the `render` asset,
    partition = the chain job id, the job and the attempt in `extras`."""

    model_config = examples(
        {
            "asset_keys": [RENDER_ASSET],
            "code_version_by_asset_key": None,
            "provenance_by_asset_key": None,
            "partition_key": "7",
            "partition_key_range": {"start": "7", "end": "7"},
            "partition_time_window": None,
            "run_id": "veriframe-attempt-12",
            "job_name": RENDER_ASSET,
            "retry_number": 0,
            "extras": {"job": CLAIMED_EXAMPLE, "attempt": 1},
        }
    )

    asset_keys: list[str]
    code_version_by_asset_key: dict[str, str | None] | None = None
    provenance_by_asset_key: dict[str, Any] | None = None
    partition_key: str
    partition_key_range: PartitionKeyRange
    partition_time_window: dict[str, str] | None = None
    run_id: str = Field(description="the attempt's own id: the render run may not exist yet")
    job_name: str
    retry_number: int
    extras: PipesExtras

    @classmethod
    def of_attempt(cls, attempt_id: int, job: JobDetail, attempt: int) -> PipesContext:
        key = str(job.job_id)
        return cls(
            asset_keys=[RENDER_ASSET],
            partition_key=key,
            partition_key_range=PartitionKeyRange(start=key, end=key),
            run_id=f"veriframe-attempt-{attempt_id}",
            job_name=RENDER_ASSET,
            retry_number=attempt - 1,
            extras=PipesExtras(job=job, attempt=attempt),
        )


# ---------------------------------------------------------------- signed login
MAX_SIGNATURE_FELTS = 64


class ChallengeRequest(BaseModel):
    model_config = examples({"address": WORKER})

    address: Address


class ChallengeResponse(BaseModel):
    model_config = examples(
        {
            "address": WORKER,
            "nonce": "0x3f1c9a",
            "chain_id": "0x534e5f5345504f4c4941",
            "issued_at": 1796630400,
            "expires_at": 1796630700,
            "typed_data": {"primaryType": "Login", "types": {}, "domain": {}, "message": {}},
            "message_hash": "0x2b6d",
        }
    )

    address: str
    nonce: str = Field(description="hex felt; send it back with the signature")
    chain_id: str
    issued_at: int
    expires_at: int
    typed_data: dict = Field(description="SNIP-12 revision 1 typed data: sign this")
    message_hash: str = Field(description="the hash the account signs (for checking)")


class LoginRequest(BaseModel):
    model_config = examples({"address": WORKER, "nonce": "0x3f1c9a", "signature": ["0x1", "0x2"]})

    address: Address
    nonce: str = Field(max_length=80, description="the challenge's nonce")
    signature: list[str] = Field(
        min_length=1,
        max_length=MAX_SIGNATURE_FELTS,
        description="the account's signature felts (hex or decimal), as the wallet returns them",
    )

    @field_validator("nonce")
    @classmethod
    def _nonce(cls, value: str) -> str:
        parse_felt(value)
        return value

    @field_validator("signature")
    @classmethod
    def _felts(cls, values: list[str]) -> list[str]:
        for value in values:
            if len(value) > 80:
                raise ValueError("a signature felt is at most 80 characters")
            parse_felt(value)
        return values


class RefreshRequest(BaseModel):
    model_config = examples({"refresh_token": "eyJhbGciOiJIUzI1NiJ9.eyJ0eXAiOiJyZWZyZXNoIn0.c2ln"})

    refresh_token: str = Field(max_length=4096)


class TokenPair(BaseModel):
    model_config = examples(
        {
            "access_token": "eyJhbGciOiJIUzI1NiJ9.eyJ0eXAiOiJhY2Nlc3MifQ.c2ln",
            "refresh_token": "eyJhbGciOiJIUzI1NiJ9.eyJ0eXAiOiJyZWZyZXNoIn0.c2ln",
            "token_type": "bearer",
            "expires_in": 900,
            "refresh_expires_in": 2592000,
            "address": WORKER,
            "roles": ["worker"],
        }
    )

    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="seconds the access token is valid")
    refresh_expires_in: int
    address: str
    roles: list[str]


# ---------------------------------------------------------------- the one error shape
class Error(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(description="stable, snake_case: what clients branch on")
    message: str = Field(description="for people: what happened and what to do")
    details: Any = Field(description="what was wrong, when there is more to say (else null)")


class ErrorBody(BaseModel):
    """Every failure: `{"error": {"code", "message", "details"}}`."""

    model_config = examples(
        {"error": {"code": "conflict", "message": "job 7 is assigned, not open", "details": None}},
        extra="forbid",
    )

    error: Error


class FieldError(BaseModel):
    model_config = ConfigDict(extra="forbid")

    location: list[str | int] = Field(description="where: body, query or path, then the field")
    message: str
    type: str = Field(description="pydantic's error type, e.g. `missing`")


class InvalidRequest(Error):
    code: Literal["invalid_request"]
    message: Literal["request is invalid"]
    details: list[FieldError]


class InvalidRequestBody(BaseModel):
    """A request that does not match the operation's parameters or body (422)."""

    model_config = examples(
        {
            "error": {
                "code": "invalid_request",
                "message": "request is invalid",
                "details": [
                    {
                        "location": ["body", "progress"],
                        "message": "Field required",
                        "type": "missing",
                    }
                ],
            }
        },
        extra="forbid",
    )

    error: InvalidRequest


class Answer(Protocol):
    """What `error_message` reads of an HTTP response (httpx's has both)."""

    status_code: int
    content: bytes


def error_message(answer: Answer) -> str:
    """What the API says went wrong (its one error shape), or the start of the body."""
    try:
        return ErrorBody.model_validate_json(answer.content).error.message
    except ValidationError:
        return f"{answer.status_code} {answer.content[:200].decode(errors='replace')}"
