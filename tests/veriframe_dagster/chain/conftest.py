"""Fixtures for the Dagster definitions: one devchain with JobRegistry activity for the
package, a fresh migrated warehouse per test, and definitions built for both."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import sqlalchemy as sa

from tests.support.activity import Activity
from tests.support.chain import Driver, devchain_fixture
from tests.support.definitions import settings_for
from tests.support.warehouse import fresh_warehouse_url
from veriframe_core.settings import Settings
from veriframe_core.warehouse.embedded import EmbeddedPostgres
from veriframe_core.warehouse.engine import make_engine
from veriframe_dagster.definitions import build_definitions

chain = devchain_fixture("package")


@pytest.fixture(scope="package")
def activity(chain: Driver) -> Activity:
    """The chain with a mix of every kind of event: jobs open, submitted, finalized and
    rated, a slashed worker."""
    act = Activity(chain, creators=slice(1, 3), workers=slice(3, 7))
    act.setup_workers()
    for _ in range(3):
        act.create_job()
    act.submit(act.workers[0], act.create_job())
    act.finish_and_rate(act.workers[1], 95)
    act.finish_and_rate(act.workers[2], 20)
    chain.send(chain.owner, chain.reg("slash_worker_reputation", act.workers[0].address, 50))
    return act


@pytest.fixture
def warehouse_url(embedded_pg: EmbeddedPostgres, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh, migrated warehouse database for this test; the environment names it, as
    `veriframe up` does for Dagster's processes (secrets reach Dagster only that way)."""
    url = fresh_warehouse_url(embedded_pg, "defs")
    monkeypatch.setenv(Settings.env_name("database_url"), url)
    return url


@pytest.fixture
def engine(warehouse_url: str) -> Iterator[sa.Engine]:
    engine = make_engine(warehouse_url)
    yield engine
    engine.dispose()


@pytest.fixture
def defs_for(chain: Driver, warehouse_url: str, tmp_path: Path):
    """Definitions for this chain and warehouse, with optional settings overrides."""

    def build(**overrides: Any) -> dg.Definitions:
        return build_definitions(settings_for(chain, warehouse_url, tmp_path, **overrides))

    return build
