"""Settings that point the Dagster definitions at a test chain and warehouse."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg

from tests.support.chain import Driver
from veriframe_core.settings import Settings


def settings_for(chain: Driver, warehouse_url: str, tmp_path: Path, **overrides: Any) -> Settings:
    """Settings pointing the definitions at this chain and warehouse (no follow by default)."""
    values: dict[str, Any] = {
        "data_dir": tmp_path,
        "database_url": warehouse_url,
        "starknet_rpc_url": chain.url,
        "job_registry_address": hex(chain.registry.address),
        "start_block": 0,
        "ingest_batch_events": 7,
        "chain_sensor_follow_s": 0,
        "render_sensor_follow_s": 0,
        "chain_spot_check_size": 100,
        **overrides,
    }
    return Settings(**values)


def ingest(defs: dg.Definitions) -> None:
    """Catch the definitions' warehouse up with their chain, as the chain sensor does."""
    resources = defs.resources
    ingestor = resources["ingestion"].ingestor(resources["warehouse"].engine(), resources["chain"])
    ingestor.tick(60, until_caught_up=True)
