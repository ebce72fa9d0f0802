"""A platform for worker agents: devchain with registered and verified workers, a warehouse
ingested from it, the API over it, the local IPFS node, and a demo scene."""

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
def activity(chain: Driver) -> Activity:
    act = Activity(chain)
    act.setup_workers()
    return act


@pytest.fixture(scope="module")
def warehouse(
    chain: Driver, activity: Activity, embedded_pg: EmbeddedPostgres
) -> Iterator[sa.Engine]:
    engine = fresh_warehouse(embedded_pg)
    ingestor(engine, chain).tick(60, until_caught_up=True)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def api_server(chain: Driver, warehouse: sa.Engine) -> Iterator[ApiServer]:
    server = ApiServer(api_settings(chain, api_lease_s=30), warehouse).start()
    yield server
    server.stop()
