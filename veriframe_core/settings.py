"""The settings of VeriFrame's processes: one class each, on one shared base.

Every value comes from the environment (prefix ``VERIFRAME_``) or a ``.env`` file; the
defaults run everything embedded on one machine (Postgres, devchain). Modules never read
``os.environ`` themselves: they take settings (or the value they need) as an argument.

- `CommonSettings`: what every process reads (its data folder, the chain, the contract).
- `WorkerSettings`: adds what the worker agent on a GPU node reads, and nothing more, so a
  GPU node holds no database URL, no operator or creator key and nothing of Dagster's.
- `Settings`: the platform's (Dagster, the API, devchain, the local IPFS node, `up`); it
  extends the worker's, since `veriframe up` starts a local agent.

A field is declared once, in the class of the processes that read it; subclasses only add
fields, so every default has one source.

Fields marked `SECRET` (passwords, keys) never travel as plain values: Dagster gets them as
`dg.EnvVar` (`veriframe_dagster.resources`), so its UI shows their variable names only.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, BeforeValidator, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ENV_PREFIX = "VERIFRAME_"
SECRET = {"secret": True}
"""`json_schema_extra` of a field whose value is a secret."""


def _split_commas(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


CommaSeparated = Annotated[list[str], NoDecode, BeforeValidator(_split_commas)]
"""A list set as one comma-separated variable (`a,b`) rather than as JSON."""


class CommonSettings(BaseSettings):
    """What every VeriFrame process reads: its data folder, the chain and the contract."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=".env", extra="ignore", populate_by_name=True
    )

    data_dir: Path = Field(
        Path(".veriframe"),
        description="Folder for everything the embedded defaults keep: Postgres data, "
        "devchain state, Dagster home.",
    )

    # --- StarkNet -------------------------------------------------------------------
    starknet_rpc_url: str = Field(
        "http://127.0.0.1:5050/rpc",
        description="StarkNet JSON-RPC 0.10.2 endpoint (devchain by default).",
    )
    job_registry_address: str | None = Field(
        None,
        description="JobRegistry contract to index. Unset: the one in devchain's chain file "
        "(and its RPC URL and start block).",
    )
    start_block: int = Field(0, ge=0, description="First block to index.")
    devchain_state_dir: Path | None = Field(
        None, description="devchain state folder. Unset: `data_dir/devchain`."
    )

    @property
    def resolved_devchain_state_dir(self) -> Path:
        return self.devchain_state_dir or self.data_dir / "devchain"

    @property
    def devchain_chain_file(self) -> Path:
        """The JSON file devchain writes on start: RPC URL, chain id, addresses, keys."""
        return self.resolved_devchain_state_dir / "chain.json"

    @classmethod
    def secret_fields(cls) -> tuple[str, ...]:
        """The fields whose values are secrets."""
        return tuple(n for n, f in cls.model_fields.items() if f.json_schema_extra == SECRET)

    @classmethod
    def env_name(cls, field: str) -> str:
        """The environment variable a field is read from (the first, where there are several)."""
        alias = cls.model_fields[field].validation_alias
        return alias.choices[0] if isinstance(alias, AliasChoices) else ENV_PREFIX + field.upper()

    def secret_value(self, field: str) -> str | None:
        """A secret field's value as plain text (None when unset)."""
        value = getattr(self, field)
        return value.get_secret_value() if isinstance(value, SecretStr) else value


class WorkerSettings(CommonSettings):
    """What the worker agent (`veriframe-worker`, on a GPU node) reads besides. The original
    worker's variables (BACKEND_API_URL, WORKER_ADDRESS, ...) work as well."""

    worker_api_url: str = Field(
        "http://127.0.0.1:8000",
        validation_alias=AliasChoices("VERIFRAME_WORKER_API_URL", "BACKEND_API_URL"),
        description="The platform's API the agent works through (also `BACKEND_API_URL`).",
    )
    worker_address: str | None = Field(
        None,
        validation_alias=AliasChoices("VERIFRAME_WORKER_ADDRESS", "WORKER_ADDRESS"),
        description="The worker's StarkNet account address (also `WORKER_ADDRESS`).",
    )
    worker_private_key: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("VERIFRAME_WORKER_PRIVATE_KEY", "WORKER_PRIVATE_KEY"),
        description="The account's private key (also `WORKER_PRIVATE_KEY`); or use "
        "`worker_key_file`. Never on the command line.",
        json_schema_extra=SECRET,
    )
    worker_key_file: Path | None = Field(
        None,
        validation_alias=AliasChoices("VERIFRAME_WORKER_KEY_FILE"),
        description="A file holding the account's private key (hex), readable by the agent only.",
    )
    worker_ipfs_api: str = Field(
        "http://127.0.0.1:5001",
        validation_alias=AliasChoices("VERIFRAME_WORKER_IPFS_API", "IPFS_API"),
        description="Kubo RPC API the agent downloads and uploads through: a URL or a "
        "multiaddr (also `IPFS_API`).",
    )
    worker_ipfs_gateways: CommaSeparated = Field(
        [],
        validation_alias=AliasChoices("VERIFRAME_WORKER_IPFS_GATEWAYS", "IPFS_GATEWAY"),
        description="Gateways to fall back on for downloads, comma-separated, e.g. "
        "`http://127.0.0.1:8080/ipfs` (also `IPFS_GATEWAY`).",
    )
    blender_path: Path | None = Field(
        None,
        validation_alias=AliasChoices("VERIFRAME_BLENDER_PATH", "BLENDER_PATH"),
        description="A Blender binary to render with (also `BLENDER_PATH`). Unset: the bpy wheel.",
    )
    worker_poll_s: float = Field(
        10,
        gt=0,
        validation_alias=AliasChoices("VERIFRAME_WORKER_POLL_S", "POLL_INTERVAL"),
        description="Seconds between two looks for work when none came (also `POLL_INTERVAL`).",
    )
    worker_websocket: bool = Field(
        True,
        validation_alias=AliasChoices("VERIFRAME_WORKER_WEBSOCKET"),
        description="Wait on the API's websocket (`jobs:available`; a delivery's `job:<id>` "
        "for its verdict; a verifier's `verifications:available`), polling only as a "
        "fallback; false: poll.",
    )
    worker_metrics_port: int | None = Field(
        None,
        ge=0,
        le=65535,
        validation_alias=AliasChoices("VERIFRAME_WORKER_METRICS_PORT"),
        description="Serve the agent's Prometheus metrics (`/metrics`: jobs by outcome, seconds "
        "per step, verdicts) on this port; unset: none.",
    )
    worker_metrics_host: str = Field(
        "127.0.0.1",
        validation_alias=AliasChoices("VERIFRAME_WORKER_METRICS_HOST"),
        description="The address the agent's metrics listen on (0.0.0.0: every interface).",
    )
    worker_device: str = Field(
        "AUTO",
        validation_alias=AliasChoices("VERIFRAME_WORKER_DEVICE"),
        description="Cycles device: AUTO (OptiX > CUDA > HIP > oneAPI > Metal > CPU), CPU, "
        "or one backend.",
    )
    worker_render_timeout_s: float = Field(
        3600,
        gt=0,
        validation_alias=AliasChoices("VERIFRAME_WORKER_RENDER_TIMEOUT_S"),
        description="Longest a render may take before it is stopped and the job failed.",
    )
    worker_memory_limit_mb: int | None = Field(
        None,
        ge=64,
        validation_alias=AliasChoices("VERIFRAME_WORKER_MEMORY_LIMIT_MB"),
        description="Resident memory a render may use before it is stopped. Unset: no limit.",
    )
    worker_max_download_mb: int = Field(
        2048,
        ge=1,
        validation_alias=AliasChoices("VERIFRAME_WORKER_MAX_DOWNLOAD_MB"),
        description="Largest asset the agent downloads (and unpacks to, for archives).",
    )
    worker_submit_on_chain: bool = Field(
        True,
        validation_alias=AliasChoices("VERIFRAME_WORKER_SUBMIT_ON_CHAIN"),
        description="Call `submit_result` on the JobRegistry with the worker's account after "
        "completing a job.",
    )
    worker_scratch_dir: Path | None = Field(
        None,
        validation_alias=AliasChoices("VERIFRAME_WORKER_SCRATCH_DIR"),
        description="Folder for downloads and renders, one per agent (a restarted agent "
        "releases the claims it finds there). Unset: `data_dir/worker`.",
    )

    worker_retry_first_s: float = Field(
        0.5,
        gt=0,
        validation_alias=AliasChoices("VERIFRAME_WORKER_RETRY_FIRST_S"),
        description="First wait before a call to a part that is down (the API, IPFS, the "
        "chain) is tried again; each wait doubles, with jitter, up to `worker_retry_max_s`.",
    )
    worker_retry_max_s: float = Field(
        2,
        gt=0,
        validation_alias=AliasChoices("VERIFRAME_WORKER_RETRY_MAX_S"),
        description="Longest wait between two tries of a call to a part that is down: how "
        "late, at most, an agent resumes once the part is back (a refused connection costs "
        "the part nothing).",
    )
    worker_outage_give_up_s: float = Field(
        3600,
        gt=0,
        validation_alias=AliasChoices("VERIFRAME_WORKER_OUTAGE_GIVE_UP_S"),
        description="How long one call waits out an outage of the API, IPFS or the chain "
        "before the agent gives up on it (the job in hand is then released; the agent goes "
        "on looking for work).",
    )

    worker_role: Literal["worker", "verifier"] = Field(
        "worker",
        validation_alias=AliasChoices("VERIFRAME_WORKER_ROLE"),
        description="`worker` renders jobs; `verifier` verifies other workers' deliveries by "
        "re-rendering crops (its account must be one of `api_verifier_addresses`).",
    )

    @property
    def resolved_worker_scratch_dir(self) -> Path:
        """Absolute: Blender runs in its scratch folders, where a relative path means another."""
        return (self.worker_scratch_dir or self.data_dir / "worker").resolve()


class Settings(WorkerSettings):
    """The platform's settings, the worker's included: `veriframe up` starts a local agent."""

    # --- Postgres -------------------------------------------------------------------
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the warehouse database. Unset: the embedded "
        "PostgreSQL under `data_dir/postgres`, which `up`, `index` and `api` start.",
        json_schema_extra=SECRET,
    )
    dagster_database_url: str | None = Field(
        None,
        description="SQLAlchemy URL of Dagster's instance storage (a psycopg2 URL). Unset: "
        "the `dagster` database on the same server as the warehouse.",
        json_schema_extra=SECRET,
    )
    warehouse_db_name: str = Field("veriframe", description="Embedded warehouse database name.")
    dagster_db_name: str = Field("dagster", description="Embedded Dagster storage database name.")

    # --- StarkNet -------------------------------------------------------------------
    starknet_rpc_timeout_s: float = Field(30, gt=0, description="Timeout of one RPC request.")

    # --- ingestion ------------------------------------------------------------------
    ingest_batch_events: int = Field(
        20_000, ge=1, description="Events per ingestion batch (one Postgres transaction)."
    )
    ingest_tick_budget_s: float = Field(
        20, gt=0, description="Time one ingestion tick may spend (Dagster's limit is 60 s)."
    )
    ingest_reorg_window: int = Field(
        1000, ge=1, description="Blocks of hashes kept to find the common ancestor of a reorg."
    )
    chain_sensor_interval_s: int = Field(
        1, ge=1, description="Minimum seconds between two chain sensor ticks."
    )
    chain_sensor_follow_s: float = Field(
        3,
        ge=0,
        lt=30,
        description="After catching up, a chain sensor tick keeps following the head this "
        "long (Dagster's daemon starts sensor ticks at most every 5 s; a tick that ends less "
        "than about 1.5 s before the next loop misses it and waits 10 s). 0: one pass per tick.",
    )
    chain_sensor_poll_s: float = Field(
        0.25, gt=0, description="Head polling period while a chain sensor tick follows."
    )

    # --- chain asset checks ---------------------------------------------------------
    chain_checks_cron: str = Field(
        "*/5 * * * *", description="When the chain asset checks run (cron, UTC)."
    )
    chain_fresh_max_lag_blocks: int = Field(
        20, ge=0, description="Sync freshness check: most blocks the warehouse may trail the head."
    )
    chain_fresh_max_lag_s: float = Field(
        60,
        ge=0,
        description="Sync freshness check: most chain seconds between the warehouse's last "
        "block and the head.",
    )
    chain_spot_check_size: int = Field(
        20, ge=1, description="Workers and jobs sampled by the spot check against the contract."
    )

    # --- reputation (the analytics schema) -------------------------------------------
    reputation_first_day: str = Field(
        "2026-12-01",
        pattern=r"^\d{4}-\d{2}-\d{2}$",
        description="First UTC day (YYYY-MM-DD) of the daily reputation tables' partitions: "
        "set it to the JobRegistry's deployment day (earlier days are neither partitioned "
        "nor computed). The default is VeriFrame's first release's day; a later day than the "
        "chain's first keeps fewer partitions for the automation to evaluate.",
    )
    reputation_activity_interval_s: int = Field(
        15,
        ge=1,
        description="Minimum seconds between two activity_days sensor ticks (which days' data "
        "changed); with reputation_automation_interval_s it bounds how soon a change shows.",
    )
    reputation_automation_interval_s: int = Field(
        30,
        ge=5,
        description="Minimum seconds between two evaluations of the reputation tables' "
        "automation conditions.",
    )

    # --- API ------------------------------------------------------------------------
    api_host: str = Field("127.0.0.1", description="API listen address.")
    api_port: int = Field(8000, description="API listen port.")
    api_ready_max_lag_blocks: int = Field(
        20, ge=0, description="`/ready` answers 503 while ingestion trails the head by more."
    )
    dagster_daemon_stale_s: float = Field(
        90,
        gt=0,
        description="`/ready` and `veriframe status` report Dagster's daemon as stale (down or "
        "frozen) when its latest heartbeat in Dagster's storage is older; it beats every 30 s.",
    )
    api_processes: int = Field(
        1, ge=1, le=64, description="uvicorn worker processes of `veriframe api` and `up`."
    )
    api_db_connections: int = Field(
        16,
        ge=1,
        le=200,
        description="Pooled Postgres connections of each API process, for the worker "
        "protocol (asyncpg) and for the rest (SQLAlchemy, with as many threads) each.",
    )
    api_cors_origins: list[str] = Field(
        [], description="Origins a browser frontend may call the API from (JSON list)."
    )
    api_jwt_secret: SecretStr | None = Field(
        None,
        description="HS256 key of the API's tokens. Unset: one is generated once and kept in "
        "`data_dir/api/jwt_secret` (mode 600), shared by every API process on the machine.",
        json_schema_extra=SECRET,
    )
    api_access_token_ttl_s: int = Field(
        900, ge=10, description="Lifetime of an access token (seconds)."
    )
    api_refresh_token_ttl_s: int = Field(
        7 * 24 * 3600, ge=60, description="Lifetime of a refresh token (seconds)."
    )
    api_challenge_ttl_s: int = Field(
        300, ge=10, le=3600, description="How long a login challenge may be signed and used."
    )
    api_admin_addresses: list[str] = Field(
        [],
        description="Addresses with the admin role besides the JobRegistry owner (JSON list).",
    )
    api_auth_rate_per_minute: int = Field(
        30,
        ge=1,
        description="Requests per minute one client address may make to each `/auth` "
        "endpoint (counted in Postgres, so across API processes).",
    )
    api_trusted_proxies: CommaSeparated = Field(
        [],
        description="Reverse proxies whose `X-Forwarded-For`/`-Proto` headers the API honours "
        "(addresses or networks, comma-separated, e.g. `10.0.0.5,172.16.0.0/12`). Requests "
        "from anywhere else are known by their own address, whatever they send. Unset: none.",
    )
    api_lease_s: int = Field(
        120, ge=5, description="A claim's lease; a heartbeat extends it, expiry reopens the job."
    )
    api_lease_sweep_s: float = Field(
        2, gt=0, description="How often each API process reopens jobs whose lease expired."
    )
    api_settings_grace_s: float = Field(
        15,
        ge=0,
        description="Seconds a new job without render settings is held back, so that its "
        "creator can attach them (`POST /jobs`) before a worker takes it with the defaults.",
    )
    api_max_failures_per_job: int = Field(
        3, ge=1, description="Failed attempts after which a worker is blocked from that job."
    )
    api_max_active_claims: int = Field(
        4, ge=1, description="Jobs one worker may hold claimed at once."
    )
    api_verifier_addresses: list[str] = Field(
        default_factory=list,
        description="The operator's accounts that verify deliveries (JSON list); they log in "
        "as workers and get the verifier role. `up` adds its local verifier's.",
    )
    api_max_rejections: int = Field(
        3,
        ge=1,
        description="Rejected deliveries after which a worker may claim no more jobs.",
    )
    api_max_upload_bytes: int = Field(
        2 * 1024**3,
        ge=1,
        description="Largest scene `POST /api/v1/assets` takes (bytes); a larger one is "
        "refused with 413 before or while it streams to IPFS.",
    )
    api_upload_bytes_per_day: int = Field(
        20 * 1024**3,
        ge=0,
        description="Bytes one account may upload through `POST /api/v1/assets` in 24 hours "
        "(accounts cost nothing to make: this bounds what one can pin); beyond it, 429.",
    )
    api_public_rpc_url: str | None = Field(
        None,
        description="The StarkNet RPC URL `GET /api/v1/network` tells creators (theirs to sign "
        "jobs with). Unset: none (creators set their own), except the local devchain's; "
        "never `starknet_rpc_url`, which may carry a provider's key.",
    )
    verification_crops: int = Field(
        12,
        ge=1,
        le=64,
        description="Crop windows re-rendered to verify a delivered frame: half drawn at "
        "random, half placed by the verifier where its preview of the frame disagrees most.",
    )
    verification_share: float = Field(
        0.01,
        gt=0,
        le=1,
        description="Share of the frame the crop windows cover together.",
    )
    verification_lease_s: int = Field(
        300,
        ge=10,
        description="Seconds a verifier holds a verification task; past it, it is re-offered.",
    )
    verification_max_failures: int = Field(
        3,
        ge=1,
        description="Verifiers that could not verify a delivery (the scene does not render "
        "for them) before it is rejected with their reasons.",
    )
    api_ws_queue_size: int = Field(
        256, ge=1, description="Messages queued per websocket before a slow client is dropped."
    )
    api_ws_ping_s: float = Field(
        20, gt=0, description="Keep-alive ping period of websocket connections."
    )
    ipfs_api_url: str | None = Field(
        None,
        description="Kubo RPC API (`/api/v0`) whose reachability `/ready` and `/metrics` report. "
        "Unset: not checked.",
    )

    ipfs_gateway_url: str = Field(
        "http://127.0.0.1:5001/ipfs",
        description="Gateway the platform's preview links point at (`<url>/<cid>`).",
    )
    render_max_failed_attempts: int = Field(
        3, ge=1, description="Failed attempts after which a job's render run fails."
    )
    render_sensor_follow_s: float = Field(
        3,
        ge=0,
        lt=30,
        description="A render sensor tick that finds nothing to record waits this long for an "
        "attempt's end (woken by the warehouse's change notifications), so a delivery is a run "
        "request at once instead of at the daemon's next 5 s sensor loop. 0: one look per tick.",
    )

    # --- the local IPFS node (`veriframe ipfs`) -------------------------------------
    ipfs_host: str = Field("127.0.0.1", description="Local IPFS node listen address.")
    ipfs_port: int = Field(
        5001, description="Local IPFS node port: RPC API at `/api/v0`, gateway at `/ipfs`."
    )
    ipfs_repo: Path | None = Field(
        None, description="Local IPFS node repository folder. Unset: `data_dir/ipfs`."
    )

    # --- devchain -------------------------------------------------------------------
    devchain_host: str = Field("127.0.0.1", description="devchain listen address.")
    devchain_port: int = Field(5050, description="devchain listen port.")
    devchain_accounts: int = Field(10, ge=1, le=1000, description="Predeployed accounts.")
    devchain_seed: int = Field(
        42, description="Seed of the predeployed account keys (same seed, same accounts)."
    )
    devchain_chain_id: str = Field(
        "SN_DEVCHAIN", description="Chain id of devchain, as a short string."
    )

    # --- the creator's commands (`veriframe submit`, `jobs`, `status`, `download`, `rate`)
    platform_url: str | None = Field(
        None,
        validation_alias=AliasChoices("VERIFRAME_URL", "VERIFRAME_PLATFORM_URL"),
        description="The platform's public URL the creator's commands work through (also "
        "`--url`; https included). Unset: the API `./dev up` serves on this machine "
        "(`api_host`, `api_port`).",
    )
    creator_address: str | None = Field(
        None,
        description="Account `veriframe submit` creates jobs from (on devchain, unset: its "
        "first funded account).",
    )
    creator_key_file: Path | None = Field(
        None,
        description="A file holding the creator account's private key (hex), readable by its "
        "owner only. Never a key on the command line.",
    )
    creator_private_key: SecretStr | None = Field(
        None,
        description="The creator account's private key; or use `creator_key_file`.",
        json_schema_extra=SECRET,
    )
    creator_ipfs_api: str | None = Field(
        None,
        description="The creator's own Kubo RPC API: `veriframe submit` adds the scene there "
        "instead of uploading it through the platform's API.",
    )
    token_address: str | None = Field(
        None,
        description="The reward token (ERC-20) the JobRegistry escrows (on devchain, unset: "
        "from its chain file).",
    )
    demo_deadline_s: int = Field(
        90,
        ge=30,
        description="`veriframe up`'s demo job: seconds from creation to its deadline, after "
        "which settlement pays the worker.",
    )

    # --- settlement (the operator's account) ----------------------------------------
    operator_address: str | None = Field(
        None, description="Account that calls `finalize_job` for jobs past their deadline."
    )
    operator_private_key: SecretStr | None = Field(
        None, description="The operator account's private key.", json_schema_extra=SECRET
    )
    sanctions_enabled: bool = Field(
        True,
        description="Sanction cheats from the operator's account (a Dagster sensor): a result "
        "on chain whose verification rejected it, and a worker with `api_max_rejections` "
        "rejected deliveries.",
    )
    sanction_slash_points: int = Field(
        100,
        ge=0,
        le=1000,
        description="Reputation points `slash_worker_reputation` takes per sanction (0: none).",
    )
    sanction_unverify: bool = Field(
        True,
        description="Also call `verify_worker(worker, false)`: the worker can neither claim "
        "through the API nor `submit_result` on chain until the owner verifies it again.",
    )
    settlement_cron: str = Field(
        "*/10 * * * *", description="When the settlement job runs (cron, UTC)."
    )

    # --- the uploads sweep (Dagster) -------------------------------------------------
    asset_unused_grace_s: float = Field(
        7 * 86400,
        ge=3600,
        description="How long a scene uploaded through `POST /api/v1/assets` stays pinned "
        "with no job using it (seconds; counted from its latest upload by anyone); then the "
        "uploads sweep unpins it. Long enough for a slow creator and an indexer catching up.",
    )
    asset_sweep_cron: str = Field(
        "23 * * * *", description="When the uploads sweep runs (cron, UTC)."
    )

    # --- `veriframe up` --------------------------------------------------------------
    run_devchain: bool = Field(
        True,
        description="Start devchain with `veriframe up`. Set false when "
        "`starknet_rpc_url` points at a real StarkNet node.",
    )
    run_dagster: bool = Field(True, description="Start Dagster's webserver and daemon with `up`.")
    run_api: bool = Field(True, description="Start the API with `up`.")
    run_ipfs: bool = Field(
        True, description="Start the local IPFS node with `up`; false: `ipfs_api_url` is used."
    )
    run_worker: bool = Field(
        True,
        description="Start one local worker agent with `up` (on devchain, registered and "
        "verified at bootstrap).",
    )
    run_verifier: bool = Field(
        True, description="Start one local verifier agent with `up` (an operator account)."
    )
    up_max_deaths: int = Field(
        5,
        ge=1,
        description="A part of `up` that dies is restarted (after 1 s, then twice as long each "
        "time, at most 30 s); one that dies this many times within `up_death_window_s` stops "
        "the platform.",
    )
    up_death_window_s: float = Field(
        300, gt=0, description="The window in which `up_max_deaths` deaths of a part stop `up`."
    )
    dagster_host: str = Field("127.0.0.1", description="Dagster webserver listen address.")
    dagster_port: int = Field(3000, description="Dagster webserver (UI) port.")

    @field_validator("api_trusted_proxies")
    @classmethod
    def _addresses_or_networks(cls, value: list[str]) -> list[str]:
        for item in value:  # uvicorn would silently take a typo for a host name
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or network") from None
        return value

    @field_validator("reputation_first_day")
    @classmethod
    def _a_real_day(cls, value: str) -> str:
        dt.date.fromisoformat(value)  # 2026-02-30 matches the pattern but is no day
        return value

    @property
    def local_api_url(self) -> str:
        """Where `veriframe up` serves the API on this machine."""
        return f"http://{self.api_host}:{self.api_port}"

    @property
    def local_ipfs_url(self) -> str:
        """Where `veriframe up` runs the local IPFS node (its RPC API and gateway)."""
        return f"http://{self.ipfs_host}:{self.ipfs_port}"

    @property
    def local_dagster_url(self) -> str:
        """Where `veriframe up` serves the Dagster UI on this machine."""
        return f"http://{self.dagster_host}:{self.dagster_port}"

    @property
    def postgres_dir(self) -> Path:
        return self.data_dir / "postgres"

    @property
    def api_dir(self) -> Path:
        return self.data_dir / "api"

    @property
    def dagster_home(self) -> Path:
        return self.data_dir / "dagster_home"

    @property
    def resolved_ipfs_repo(self) -> Path:
        return self.ipfs_repo or self.data_dir / "ipfs"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
