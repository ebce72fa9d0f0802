"""How settings reach Dagster code: narrow resources, built once by `build_resources`.

Each resource holds one system's address (the warehouse, the chain, IPFS), the operator's
account, or one domain's few knobs. Assets, checks and jobs take them as resource
parameters (the UI shows what each uses); sensors get the same objects when the definitions
are built (`veriframe_dagster.definitions` says why), so no setting reaches Dagster code any
other way. Narrow, so each says what it is for and costs little to build: a resource
generated from all ~84 settings cost ~120 ms of CPU each time, one of a few plain fields
2-3 ms (bench/README.md, "Narrow resources").

Secrets (the database URL, the operator's key) are `dg.EnvVar`s: the UI shows the variable's
name only, and the processes Dagster runs read the value from their environment (`veriframe
up` sets it). Paths are absolute (the code server's working directory may differ). Nothing
connects when a resource is built: the embedded server and devchain's chain file are looked
up on first use.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg
from pydantic import Field

from veriframe_core.settings import Settings

if TYPE_CHECKING:
    import sqlalchemy as sa

    from veriframe_core.chain.ingest import ChainIngestor, IngestTarget
    from veriframe_core.chain.sanctions import Policy
    from veriframe_core.chain.views import ChainReader
    from veriframe_core.ipfs import IpfsClient


def _value(field: str | None) -> str | None:
    """A field's value: an `EnvVar` read from the environment (Dagster resolves it when it
    builds the resource for a run or tick; a resource used directly has the variable)."""
    return field.get_value() if isinstance(field, dg.EnvVar) else field


@cache
def _engine(url: str) -> sa.Engine:
    from veriframe_core.warehouse.engine import make_engine

    return make_engine(url)


class WarehouseResource(dg.ConfigurableResource):
    """The warehouse database the platform's tables live in."""

    url: str | None = Field(
        default=None, description="Its SQLAlchemy URL; unset: the embedded server's database."
    )
    embedded_dir: str = Field(description="The embedded server's data folder (no URL set).")
    database: str = Field(description="The warehouse's database on the embedded server.")

    def connection_url(self) -> str:
        from veriframe_core.warehouse.urls import psycopg2_url, running_server

        url = _value(self.url)
        if url is not None:
            return psycopg2_url(url)
        return running_server(Path(self.embedded_dir)).url(self.database)

    def engine(self) -> sa.Engine:
        """One engine per process and URL: a sensor ticking every few seconds reuses its
        pooled connections."""
        return _engine(self.connection_url())


class ChainResource(dg.ConfigurableResource):
    """The StarkNet node and the JobRegistry contract the platform follows."""

    rpc_url: str = Field(description="The node's JSON-RPC URL.")
    job_registry_address: str | None = Field(
        default=None, description="The contract; unset: devchain's, from its chain file."
    )
    start_block: int = Field(description="The first block indexed.")
    devchain_chain_file: str = Field(description="The chain file devchain writes on start.")
    rpc_timeout_s: float = Field(description="Timeout of one RPC request.")

    def target(self) -> IngestTarget:
        """The node, contract and start block (read from devchain's chain file if unset)."""
        from veriframe_core.chain.target import chain_target

        return chain_target(
            self.rpc_url, self.job_registry_address, self.start_block, self.chain_file()
        )

    def chain_file(self) -> Path:
        return Path(self.devchain_chain_file)

    def reader(self, target: IngestTarget) -> ChainReader:
        """The contract's views at `target`."""
        from veriframe_core.chain.views import ChainReader

        return ChainReader(target.rpc_url, target.contract, self.rpc_timeout_s)


class OperatorResource(dg.ConfigurableResource):
    """The operator's account, from which settlement pays the workers."""

    address: str | None = Field(default=None, description="The account's address.")
    private_key: str | None = Field(
        default=None, description="Its private key (VERIFRAME_OPERATOR_PRIVATE_KEY)."
    )

    def account(self, chain: ChainResource) -> tuple[int, int]:
        """Address and key; on the local devchain (no registry set), devchain's owner."""
        from veriframe_core.chain.target import operator_account

        return operator_account(
            self.address, _value(self.private_key), chain.job_registry_address, chain.chain_file()
        )


class IpfsResource(dg.ConfigurableResource):
    """The platform's IPFS node: delivered frames are fetched from it, uploads no job used
    are unpinned from it, and links point to its gateway."""

    api_url: str = Field(description="The node's RPC API.")
    gateway_url: str = Field(description="The HTTP gateway links to frames point to.")

    def client(self, **options: Any) -> IpfsClient:
        """A client of the node, the gateway to fall back on; `options` as `IpfsClient`'s."""
        from veriframe_core.ipfs import IpfsClient

        return IpfsClient(self.api_url, [self.gateway_url], **options)

    def link(self, cid: str) -> str:
        return f"{self.gateway_url.rstrip('/')}/{cid}"


class IngestionResource(dg.ConfigurableResource):
    """How the chain sensor ingests: batch size, reorg window, and its tick's time."""

    batch_events: int = Field(description="Events per batch (one transaction each).")
    reorg_window: int = Field(description="Recent blocks whose hashes are checked for reorgs.")
    tick_budget_s: float = Field(description="Time a tick may spend ingesting.")
    follow_s: float = Field(description="How long a caught-up tick follows the head.")
    poll_s: float = Field(description="How often a following tick looks at the head.")

    def ingestor(self, engine: sa.Engine, chain: ChainResource) -> ChainIngestor:
        from veriframe_core.chain.ingest import ChainIngestor

        return ChainIngestor(
            engine,
            chain.target(),
            batch_events=self.batch_events,
            reorg_window=self.reorg_window,
            rpc_timeout_s=chain.rpc_timeout_s,
        )


class ChainChecksResource(dg.ConfigurableResource):
    """What the chain checks allow: the warehouse's lag behind the head, the spot check's
    sample."""

    max_lag_blocks: int = Field(description="Blocks the warehouse may trail the head by.")
    max_lag_s: float = Field(description="Chain seconds the warehouse may trail the head by.")
    spot_check_size: int = Field(description="Rows compared with the contract per check.")


class RenderingResource(dg.ConfigurableResource):
    """How a job's render is followed: the failed attempts that end its run, and how long
    an idle render sensor tick waits for a claim."""

    max_failed_attempts: int = Field(description="Failed attempts that fail a job's run.")
    sensor_follow_s: float = Field(description="How long an idle tick waits for a claim.")


class ReputationResource(dg.ConfigurableResource):
    """The thresholds the reputation tables are computed and checked with."""

    max_lag_s: float = Field(description="Chain seconds the source tables may trail by.")
    max_failures_per_job: int = Field(description="Failed attempts that block a job (API).")


class UploadsResource(dg.ConfigurableResource):
    """How long a scene uploaded through the API may stay pinned with no job using it."""

    unused_grace_s: float = Field(description="Seconds from its latest upload to its unpinning.")


class SanctionsResource(dg.ConfigurableResource):
    """The sanctions policy: whether cheats are sanctioned, the rejections that make a
    cheat, and what a sanction costs (`VERIFRAME_SANCTION_*`)."""

    enabled: bool = Field(description="Whether the sanctions sensor starts running.")
    max_rejections: int = Field(description="Rejected deliveries that make a worker a cheat.")
    slash_points: int = Field(description="Reputation points slashed per sanction (0: none).")
    unverify: bool = Field(description="Also verify_worker(worker, false).")

    def policy(self) -> Policy:
        from veriframe_core.chain.sanctions import Policy

        return Policy(slash_points=self.slash_points, unverify=self.unverify)


def _secret(settings: Settings, name: str) -> dg.EnvVar | None:
    """A secret setting as the environment variable Dagster reads it from (None: unset).

    A secret that is set must be in the environment under its variable, with that value:
    the processes Dagster launches read it there, never from the resource config.
    """
    value = settings.secret_value(name)
    if value is None:
        return None
    variable = Settings.env_name(name)
    if os.environ.get(variable) != value:
        raise ValueError(
            f"{variable} is set in the settings but not to the same value in the "
            f"environment: Dagster reads secrets from the environment only (its UI shows "
            f"the variable's name, never the value), so export {variable}"
        )
    return dg.EnvVar(variable)


def _absolute(path: Path) -> str:
    return str(path.expanduser().resolve())


def build_resources(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    """Every resource of the code location, from `settings`: the one place settings become
    resources."""
    chain = ChainResource(
        rpc_url=settings.starknet_rpc_url,
        job_registry_address=settings.job_registry_address,
        start_block=settings.start_block,
        devchain_chain_file=_absolute(settings.devchain_chain_file),
        rpc_timeout_s=settings.starknet_rpc_timeout_s,
    )
    return {
        "warehouse": WarehouseResource(
            url=_secret(settings, "database_url"),
            embedded_dir=_absolute(settings.postgres_dir),
            database=settings.warehouse_db_name,
        ),
        "chain": chain,
        "operator": OperatorResource(
            address=settings.operator_address,
            private_key=_secret(settings, "operator_private_key"),
        ),
        "ipfs": IpfsResource(
            api_url=settings.ipfs_api_url or settings.local_ipfs_url,
            gateway_url=settings.ipfs_gateway_url,
        ),
        "ingestion": IngestionResource(
            batch_events=settings.ingest_batch_events,
            reorg_window=settings.ingest_reorg_window,
            tick_budget_s=settings.ingest_tick_budget_s,
            follow_s=settings.chain_sensor_follow_s,
            poll_s=settings.chain_sensor_poll_s,
        ),
        "chain_checks": ChainChecksResource(
            max_lag_blocks=settings.chain_fresh_max_lag_blocks,
            max_lag_s=settings.chain_fresh_max_lag_s,
            spot_check_size=settings.chain_spot_check_size,
        ),
        "rendering": RenderingResource(
            max_failed_attempts=settings.render_max_failed_attempts,
            sensor_follow_s=settings.render_sensor_follow_s,
        ),
        "reputation": ReputationResource(
            max_lag_s=settings.chain_fresh_max_lag_s,
            max_failures_per_job=settings.api_max_failures_per_job,
        ),
        "uploads": UploadsResource(unused_grace_s=settings.asset_unused_grace_s),
        "sanctions": SanctionsResource(
            enabled=settings.sanctions_enabled,
            max_rejections=settings.api_max_rejections,
            slash_points=settings.sanction_slash_points,
            unverify=settings.sanction_unverify,
        ),
    }
