"""`POST /assets` (a scene streamed to the platform's IPFS node and pinned, capped),
`GET /jobs/{id}/frame`'s refusals, `GET /network` and `GET /jobs/{id}/outlook`, over real
HTTP, a real Kubo node and a warehouse ingested from devchain. The verified frame's download
is in tests/veriframe/test_creator.py, where a worker renders and a verifier passes it."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator

import httpx
import pytest
import sqlalchemy as sa

from api.routers.network import network
from kubonode.process import KuboProcess
from tests.support.activity import Activity
from tests.support.api import ApiServer, api_settings, bearer, sign_in
from tests.support.chain import Driver
from tests.support.platform import eventually
from tests.support.warehouse import fresh_warehouse, ingestor
from veriframe_core.chain.addresses import normalize_address
from veriframe_core.ipfs import IpfsClient
from veriframe_core.warehouse.embedded import EmbeddedPostgres

CAP = 1 << 20


@pytest.fixture(scope="module")
def warehouse(chain: Driver, embedded_pg: EmbeddedPostgres) -> Iterator[sa.Engine]:
    activity = Activity(chain)
    activity.setup_workers()
    activity.create_jobs(chain.accounts[1], 1, ttl=10**6)
    engine = fresh_warehouse(embedded_pg)
    ingestor(engine, chain).tick(60, until_caught_up=True)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def api_server(chain: Driver, warehouse: sa.Engine, kubo: KuboProcess) -> Iterator[ApiServer]:
    settings = api_settings(
        chain,
        ipfs_api_url=kubo.url,
        api_max_upload_bytes=CAP,
        token_address=hex(chain.token.address),
    )
    server = ApiServer(settings, warehouse).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def creator_auth(api: httpx.Client, chain: Driver) -> dict[str, str]:
    return bearer(sign_in(api, chain.accounts[1], "authenticate"))


def held(kubo: KuboProcess, content: bytes) -> bool:
    """Whether the node holds (has pinned) `content`: its CID, computed by the node without
    adding it, can be read."""
    files = {"file": ("scene", content, "application/octet-stream")}
    added = httpx.post(f"{kubo.url}/api/v0/add", params={"only-hash": "true"}, files=files)
    cid = added.json()["Hash"]
    return httpx.post(f"{kubo.url}/api/v0/cat", params={"arg": cid}).status_code == 200


def test_an_upload_is_pinned_on_the_platform_node_with_the_cid_ipfs_gives_it(
    api: httpx.Client, creator_auth: dict, kubo: KuboProcess
) -> None:
    scene = os.urandom(CAP - 100)
    answer = api.post("/api/v1/assets", content=scene, headers=creator_auth)
    assert answer.status_code == 200, answer.text
    cid = answer.json()["cid"]
    with IpfsClient(kubo.url) as ipfs:
        assert ipfs.cat(cid) == scene
        assert ipfs.add_bytes(scene) == cid  # what adding it directly gives
    assert held(kubo, scene)


def test_a_chunked_upload_streams_through(
    api: httpx.Client, creator_auth: dict, kubo: KuboProcess
) -> None:
    parts = [os.urandom(100_000) for _ in range(5)]
    answer = api.post("/api/v1/assets", content=iter(parts), headers=creator_auth)
    assert answer.status_code == 200, answer.text
    with IpfsClient(kubo.url) as ipfs:
        assert ipfs.cat(answer.json()["cid"]) == b"".join(parts)


def test_an_upload_over_the_cap_is_refused_with_413_and_leaves_nothing_pinned(
    api: httpx.Client, creator_auth: dict, kubo: KuboProcess
) -> None:
    too_big = os.urandom(CAP + 1)
    declared = api.post("/api/v1/assets", content=too_big, headers=creator_auth)
    assert declared.status_code == 413
    assert declared.json()["error"]["code"] == "too_large"
    assert "upload cap of 1,048,576 bytes" in declared.json()["error"]["message"]
    parts = [os.urandom(CAP // 2) for _ in range(3)]  # no length: found out midway
    streamed = api.post("/api/v1/assets", content=iter(parts), headers=creator_auth)
    assert streamed.status_code == 413
    assert not held(kubo, too_big)
    assert not held(kubo, b"".join(parts))
    assert not held(kubo, b"".join(parts[:2]))  # nor what came before the cap


def test_an_upload_the_client_cuts_short_keeps_nothing_and_is_no_server_error(
    api_server: ApiServer, creator_auth: dict, kubo: KuboProcess, caplog: pytest.LogCaptureFixture
) -> None:
    sent = os.urandom(CAP // 2)
    head = (
        "POST /api/v1/assets HTTP/1.1\r\nHost: api\r\n"
        f"Authorization: {creator_auth['Authorization']}\r\n"
        f"Content-Type: application/octet-stream\r\nContent-Length: {CAP}\r\n\r\n"
    )
    caplog.set_level(logging.INFO, "veriframe.api")
    with socket.create_connection(("127.0.0.1", api_server.port)) as client:
        client.sendall(head.encode() + sent)
    eventually(lambda: "cut short" in caplog.text or "unhandled error" in caplog.text)
    assert "unhandled error" not in caplog.text
    assert not held(kubo, sent)


def test_an_account_over_its_daily_upload_budget_gets_429_and_nothing_pinned(
    api: httpx.Client, chain: Driver, warehouse: sa.Engine, kubo: KuboProcess
) -> None:
    """Accounts cost nothing to make: each may upload `api_upload_bytes_per_day`, counted
    from what it uploaded in the last 24 hours, declared or found out while it streams."""
    budget = 300_000
    settings = api_settings(chain, ipfs_api_url=kubo.url, api_upload_bytes_per_day=budget)
    server = ApiServer(settings, warehouse).start()
    uploader = chain.accounts[4]
    try:
        with httpx.Client(base_url=server.url, timeout=30) as other:
            auth = bearer(sign_in(other, uploader, "authenticate"))
            first = other.post("/api/v1/assets", content=os.urandom(200_000), headers=auth)
            over = os.urandom(150_000)
            declared = other.post("/api/v1/assets", content=over, headers=auth)
            parts = [os.urandom(60_000) for _ in range(3)]  # no length: found out midway
            streamed = other.post("/api/v1/assets", content=iter(parts), headers=auth)
    finally:
        server.stop()
    assert first.status_code == 200, first.text
    for refused in (declared, streamed):
        assert refused.status_code == 429, refused.text
        assert "uploaded 200,000 of its 300,000 bytes" in refused.json()["error"]["message"]
    assert not held(kubo, over) and not held(kubo, b"".join(parts))
    with warehouse.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT cid, size FROM asset_uploads WHERE address = :a"),
            {"a": normalize_address(hex(uploader.address))},
        ).all()
    assert rows == [(first.json()["cid"], first.json()["size"])]


def test_an_upload_needs_a_login(api: httpx.Client) -> None:
    answer = api.post("/api/v1/assets", content=b"scene")
    assert answer.status_code == 401


def test_an_upload_while_the_ipfs_node_is_down_is_a_503(
    chain: Driver, warehouse: sa.Engine, creator_auth: dict
) -> None:
    settings = api_settings(chain, ipfs_api_url="http://127.0.0.1:9")  # nothing listens there
    server = ApiServer(settings, warehouse).start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as other:
            answer = other.post("/api/v1/assets", content=b"scene", headers=creator_auth)
    finally:
        server.stop()
    assert answer.status_code == 503
    assert "IPFS node at http://127.0.0.1:9 is unreachable" in answer.json()["error"]["message"]


def test_a_frame_is_refused_until_a_verified_result_exists(api: httpx.Client) -> None:
    unknown = api.get("/api/v1/jobs/999999/frame")
    assert unknown.status_code == 404
    open_job = api.get("/api/v1/jobs/1/frame")
    assert open_job.status_code == 409
    assert open_job.json()["error"]["message"] == "job 1 has no verified frame (nothing delivered)"


def test_the_network_names_the_chain_the_contract_and_the_token(
    api: httpx.Client, chain: Driver
) -> None:
    network = api.get("/api/v1/network").json()
    assert network == {
        "rpc_url": chain.url,
        "job_registry_address": normalize_address(chain.registry.address),
        "token_address": normalize_address(chain.token.address),
        "max_upload_bytes": CAP,
        "max_failures_per_job": 3,
    }


def test_the_network_never_publishes_the_platforms_own_rpc_url(api_server: ApiServer) -> None:
    """The node the platform reads may carry a provider's key in its URL: only the URL the
    operator publishes (`api_public_rpc_url`) goes to creators (or a local devchain's)."""
    settings = api_server.settings.model_copy(update={"api_public_rpc_url": None})
    assert network(settings)["rpc_url"] is None


def test_an_open_job_without_failures_is_renderable(api: httpx.Client) -> None:
    outlook = api.get("/api/v1/jobs/1/outlook").json()
    assert outlook["renderable"] is True
    assert outlook["failed_attempts"] == 0
    assert outlook["eligible_workers"] > 0
    assert api.get("/api/v1/jobs/999999/outlook").status_code == 404
