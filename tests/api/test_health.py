"""`/health` answers while the process runs, whatever its parts do; `/ready` is 200 only
while the warehouse, the chain's node and IPFS answer and ingestion is current, else 503
naming each failing part. With the warehouse down, requests get 503s, not 500s."""

from __future__ import annotations

import re
import time

import httpx
import pytest
import sqlalchemy as sa
from dagster._daemon.types import DaemonHeartbeat
from dagster_postgres import PostgresRunStorage

from api.auth.tokens import TokenIssuer
from kubonode.process import KuboProcess
from tests.support.api import TEST_JWT_SECRET, ApiServer, api_settings
from tests.support.chain import Driver
from tests.support.warehouse import fresh_warehouse, ingestor
from veriframe_core.processes import free_port
from veriframe_core.warehouse.embedded import EmbeddedPostgres
from veriframe_core.warehouse.engine import make_engine

NOWHERE = "http://127.0.0.1:{port}"


def probe(server: ApiServer) -> tuple[httpx.Response, httpx.Response]:
    with httpx.Client(base_url=server.url, timeout=10) as api:
        return api.get("/health"), api.get("/ready")


def test_ready_with_every_part_up_and_ingestion_current(
    chain: Driver, warehouse: sa.Engine, kubo: KuboProcess
) -> None:
    ingestor(warehouse, chain).tick(60, until_caught_up=True)
    server = ApiServer(api_settings(chain, ipfs_api_url=kubo.url), warehouse).start()
    try:
        health, ready = probe(server)
    finally:
        server.stop()
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    assert ready.status_code == 200, ready.text
    document = ready.json()
    assert document["status"] == "ok" and document["failing"] == {}
    assert document["ipfs"]["status"] == "ok" and document["ipfs"]["version"]
    assert document["chain"]["lag_blocks"] == 0 and document["chain"]["lag_seconds"] == 0


def test_ipfs_is_not_probed_unless_configured(api: httpx.Client, chain: Driver, warehouse) -> None:
    ingestor(warehouse, chain).tick(60, until_caught_up=True)
    document = api.get("/ready").json()
    assert document["ipfs"] == {"status": "not_configured", "url": None, "version": None}
    assert "ipfs" not in document["failing"]


@pytest.mark.parametrize("part", ["ipfs", "chain"])
def test_a_stopped_part_makes_the_api_not_ready_and_is_named(
    part: str, chain: Driver, warehouse: sa.Engine
) -> None:
    url = NOWHERE.format(port=free_port())  # a closed port: the part is stopped
    setting = {"ipfs": "ipfs_api_url", "chain": "starknet_rpc_url"}[part]
    server = ApiServer(api_settings(chain, **{setting: url}), warehouse).start()
    try:
        health, ready = probe(server)
    finally:
        server.stop()
    assert health.status_code == 200
    assert ready.status_code == 503, ready.text
    document = ready.json()
    assert document["status"] == "not_ready" and list(document["failing"]) == [part]
    assert url in document["failing"][part] and "\n" not in document["failing"][part]
    if part == "chain":
        assert document["chain"]["rpc"] == "unreachable" and document["chain"]["head"] is None
    else:
        assert document["ipfs"] == {"status": "unreachable", "url": url, "version": None}


def test_readiness_follows_ingestion(api: httpx.Client, chain: Driver, warehouse) -> None:
    assert api.get("/").json()["ready"] == "/ready"
    ingestor(warehouse, chain).tick(60, until_caught_up=True)
    chain.rpc("devchain_mine")  # the head moves past the cursor (allowed lag: 0 blocks)
    not_ready = api.get("/ready")
    assert not_ready.status_code == 503
    lagging = not_ready.json()
    assert list(lagging["failing"]) == ["ingestion"] and lagging["chain"]["lag_blocks"] >= 1
    assert "blocks (at most 0)" in lagging["failing"]["ingestion"]
    assert api.get("/health").json() == {"status": "ok"}
    ingestor(warehouse, chain).tick(60, until_caught_up=True)
    ready = api.get("/ready")
    assert ready.status_code == 200 and ready.json()["chain"]["lag_blocks"] == 0


def test_a_warehouse_nothing_was_ingested_into_is_not_ready(
    chain: Driver, embedded_pg: EmbeddedPostgres
) -> None:
    empty = fresh_warehouse(embedded_pg)
    server = ApiServer(api_settings(chain), empty).start()
    try:
        health, ready = probe(server)
    finally:
        server.stop()
        empty.dispose()
    assert health.status_code == 200
    assert ready.status_code == 503
    failing = ready.json()["failing"]
    assert list(failing) == ["ingestion"] and "nothing ingested yet" in failing["ingestion"]


def test_requests_get_503_while_the_warehouse_is_unreachable(chain: Driver) -> None:
    nowhere = make_engine(f"postgresql+psycopg2://postgres@127.0.0.1:{free_port()}/veriframe")
    worker = TokenIssuer(TEST_JWT_SECRET.encode(), 900, 3600).access_token(
        "0x" + "0" * 63 + "7", ("worker",), "no-session"
    )
    server = ApiServer(api_settings(chain), nowhere).start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as api:
            auth = {"Authorization": f"Bearer {worker}"}
            answers = [
                api.get("/api/v1/jobs"),  # SQLAlchemy
                api.post("/api/v1/jobs/claim-next", headers=auth),  # asyncpg
                api.post("/api/v1/jobs/1/heartbeat", json={"progress": 0.5}, headers=auth),
            ]
            health, ready = api.get("/health"), api.get("/ready")
    finally:
        server.stop()
        nowhere.dispose()
    for answer in answers:
        assert answer.status_code == 503, answer.text
        assert answer.json()["error"]["code"] == "unavailable"
        assert answer.headers["Retry-After"] == "5"
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    assert ready.status_code == 503 and list(ready.json()["failing"]) == ["database"]
    assert ready.json()["database"] == "unreachable"


def test_ready_says_when_dagsters_daemon_is_stale_and_stays_200(
    chain: Driver, warehouse: sa.Engine, embedded_pg: EmbeddedPostgres
) -> None:
    """Dagster's own Daemons page counts a daemon healthy for 30 minutes after its last
    heartbeat; `/ready` says it is stale after `dagster_daemon_stale_s`."""
    ingestor(warehouse, chain).tick(60, until_caught_up=True)
    embedded_pg.ensure_database("dagster_heartbeats")
    url = embedded_pg.url("dagster_heartbeats")
    storage = PostgresRunStorage(url)  # Dagster's own storage code writes the heartbeats
    settings = api_settings(chain, dagster_database_url=url, dagster_daemon_stale_s=60)
    server = ApiServer(settings, warehouse).start()
    try:
        with httpx.Client(base_url=server.url, timeout=10) as api:
            storage.wipe_daemon_heartbeats()
            never = api.get("/ready").json()
            for daemon in ("SENSOR", "QUEUED_RUN_COORDINATOR"):
                storage.add_daemon_heartbeat(DaemonHeartbeat(time.time() - 400, daemon, "d1"))
            stale = api.get("/ready")
            scraped = api.get("/metrics").text
            storage.add_daemon_heartbeat(DaemonHeartbeat(time.time() - 5, "SENSOR", "d1"))
            alive = api.get("/ready").json()
    finally:
        server.stop()
    assert never["dagster"]["daemon"]["status"] == "no_heartbeat"
    assert "never run" in never["warnings"]["dagster_daemon"]
    assert stale.status_code == 200 and stale.json()["failing"] == {}  # the API still serves
    daemon = stale.json()["dagster"]["daemon"]
    assert daemon["status"] == "stale" and 399 < daemon["heartbeat_age_s"] < 420
    warning = stale.json()["warnings"]["dagster_daemon"]
    assert "heartbeat is 40" in warning and "(at most 60 s)" in warning and "\n" not in warning
    age = re.search(r"^veriframe_dagster_daemon_heartbeat_age_seconds (\S+)$", scraped, re.M)
    assert age and 399 < float(age[1]) < 420  # for the alert rule on a stale daemon
    assert alive["dagster"]["daemon"]["status"] == "ok" and alive["warnings"] == {}
    assert alive["dagster"]["daemon"]["heartbeat_age_s"] < 30


def test_ready_says_when_dagsters_storage_is_unreachable(
    chain: Driver, warehouse: sa.Engine
) -> None:
    ingestor(warehouse, chain).tick(60, until_caught_up=True)
    nowhere = f"postgresql+psycopg2://postgres@127.0.0.1:{free_port()}/dagster"
    server = ApiServer(api_settings(chain, dagster_database_url=nowhere), warehouse).start()
    try:
        _, ready = probe(server)
    finally:
        server.stop()
    assert ready.status_code == 200 and ready.json()["dagster"]["daemon"]["status"] == "unreachable"
    assert "Dagster's storage unreachable" in ready.json()["warnings"]["dagster_daemon"]
