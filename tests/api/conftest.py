"""The API served by uvicorn over real HTTP, on a warehouse ingested from a real devchain."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from tests.support.activity import Activity
from tests.support.api import ApiServer, api_settings
from tests.support.chain import Driver
from tests.support.warehouse import fresh_warehouse, ingestor
from veriframe_core.warehouse.embedded import EmbeddedPostgres


@pytest.fixture(scope="module")
def warehouse(chain: Driver, embedded_pg: EmbeddedPostgres) -> Iterator[sa.Engine]:
    """A warehouse ingested from devchain activity: verified workers, a full round, open jobs."""
    activity = Activity(chain)
    activity.setup_workers()
    activity.full_round()
    activity.create_jobs(chain.accounts[1], 2, ttl=10**6)
    engine = fresh_warehouse(embedded_pg)
    ingestor(engine, chain).tick(60, until_caught_up=True)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def api_server(chain: Driver, warehouse: sa.Engine) -> Iterator[ApiServer]:
    server = ApiServer(api_settings(chain), warehouse).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def open_jobs(chain: Driver, warehouse: sa.Engine) -> Iterator[int]:
    """Fresh open jobs (creator: account 2); every third needs reputation 600."""
    activity = Activity(chain)
    activity.jobs_made = 100  # other CIDs than the module's first jobs
    created = activity.create_jobs(chain.accounts[2], 30, ttl=10**6)
    ingestor(warehouse, chain).tick(60, until_caught_up=True)
    return iter(created[i] for i in range(len(created)) if i % 3 != 2)
