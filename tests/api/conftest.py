"""The API served by uvicorn over real HTTP, on a warehouse ingested from a real devchain."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import sqlalchemy as sa
import uvicorn

from api.app import create_app
from devchain.process import free_port
from tests.devchain.conftest import Driver
from tests.ingest.conftest import Activity, chain, fresh_warehouse, ingestor  # noqa: F401
from veriframe_dagster.settings import Settings


class ApiServer:
    """uvicorn in a thread of the test process, stopped through `should_exit`."""

    def __init__(self, settings: Settings, engine: sa.Engine):
        self.port = free_port()
        config = uvicorn.Config(
            create_app(settings, engine), host="127.0.0.1", port=self.port, log_level="warning"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ApiServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, "API did not start"
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture(scope="module")
def warehouse(chain: Driver, embedded_pg) -> Iterator[sa.Engine]:  # noqa: F811
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
def api(chain: Driver, warehouse: sa.Engine) -> Iterator[httpx.Client]:  # noqa: F811
    settings = Settings(starknet_rpc_url=chain.url, api_ready_max_lag_blocks=0)
    server = ApiServer(settings, warehouse).start()
    with httpx.Client(base_url=server.url, timeout=10) as client:
        yield client
    server.stop()
