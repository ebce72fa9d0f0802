"""Resources of the chain domain, built from settings: where the warehouse is, what to index.

Both are plain configuration at definitions load (nothing is started or connected then);
the warehouse URL is resolved, and the engine built, on first use in the process that
needs it. Engines are kept per process and URL, so a sensor ticking every few seconds
reuses its pooled connections.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg

from veriframe_dagster.settings import Settings

if TYPE_CHECKING:
    import sqlalchemy as sa

    from veriframe_dagster.chain.ingest import ChainIngestor, IngestTarget


@cache
def _engine(url: str) -> sa.Engine:
    from veriframe_dagster.warehouse.engine import make_engine

    return make_engine(url)


@cache
def _embedded_warehouse_url(data_dir: str, db_name: str) -> str:
    """Start (or adopt) the embedded server, once per process, and migrate the warehouse."""
    from veriframe_dagster.warehouse.migrate import upgrade_warehouse
    from veriframe_dagster.warehouse.urls import resolve_database_urls

    settings = Settings(data_dir=Path(data_dir), database_url=None, warehouse_db_name=db_name)
    url = resolve_database_urls(settings).warehouse
    upgrade_warehouse(url)
    return url


class WarehouseResource(dg.ConfigurableResource):
    """The warehouse database the chain tables live in.

    ``database_url`` unset (a bare `dagster dev`): the embedded server under ``data_dir`` is
    started or adopted on first use. `veriframe up` always passes the URL it resolved.
    """

    database_url: str | None = None
    data_dir: str = ".veriframe"
    warehouse_db_name: str = "veriframe"

    def url(self) -> str:
        from veriframe_dagster.warehouse.urls import psycopg2_url

        if self.database_url:
            return psycopg2_url(self.database_url)
        return _embedded_warehouse_url(self.data_dir, self.warehouse_db_name)

    def engine(self) -> sa.Engine:
        return _engine(self.url())


class ChainResource(dg.ConfigurableResource):
    """What to index (node, contract, start block), how (batches, budgets) and how the
    chain checks judge the result (freshness thresholds, spot-check sample size)."""

    rpc_url: str
    job_registry_address: str | None = None
    start_block: int = 0
    devchain_state_dir: str
    rpc_timeout_s: float = 30
    batch_events: int = 5000
    reorg_window: int = 1000
    tick_budget_s: float = 20
    follow_s: float = 4
    poll_s: float = 0.25
    fresh_max_lag_blocks: int = 20
    fresh_max_lag_s: float = 60
    spot_check_size: int = 20

    def settings(self) -> Settings:
        """These values as the ingestion's settings, so sensor and `veriframe index` share
        one code path (`ChainIngestor.from_settings`, `resolve_target`)."""
        return Settings(
            starknet_rpc_url=self.rpc_url,
            job_registry_address=self.job_registry_address,
            start_block=self.start_block,
            devchain_state_dir=Path(self.devchain_state_dir),
            starknet_rpc_timeout_s=self.rpc_timeout_s,
            ingest_batch_events=self.batch_events,
            ingest_reorg_window=self.reorg_window,
            ingest_tick_budget_s=self.tick_budget_s,
        )

    def target(self) -> IngestTarget:
        """The node, contract and start block (read from devchain's chain file if unset)."""
        from veriframe_dagster.chain.ingest import resolve_target

        return resolve_target(self.settings())

    def ingestor(self, engine: sa.Engine) -> ChainIngestor:
        from veriframe_dagster.chain.ingest import ChainIngestor

        return ChainIngestor.from_settings(engine, self.settings())


def chain_resources(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    """The chain domain's resources for this deployment's settings."""
    return {
        "warehouse": WarehouseResource(
            database_url=settings.database_url,
            data_dir=str(settings.data_dir.expanduser().resolve()),
            warehouse_db_name=settings.warehouse_db_name,
        ),
        "chain": ChainResource(
            rpc_url=settings.starknet_rpc_url,
            job_registry_address=settings.job_registry_address,
            start_block=settings.start_block,
            devchain_state_dir=str(settings.resolved_devchain_state_dir.expanduser().resolve()),
            rpc_timeout_s=settings.starknet_rpc_timeout_s,
            batch_events=settings.ingest_batch_events,
            reorg_window=settings.ingest_reorg_window,
            tick_budget_s=settings.ingest_tick_budget_s,
            follow_s=settings.chain_sensor_follow_s,
            poll_s=settings.chain_sensor_poll_s,
            fresh_max_lag_blocks=settings.chain_fresh_max_lag_blocks,
            fresh_max_lag_s=settings.chain_fresh_max_lag_s,
            spot_check_size=settings.chain_spot_check_size,
        ),
    }
