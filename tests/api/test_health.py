"""`/health` reports each dependency; an unreachable IPFS node degrades it, an unset one not;
with the warehouse down, requests get 503s, not 500s."""

from __future__ import annotations

import httpx
import sqlalchemy as sa

from api.auth.tokens import TokenIssuer
from tests.support.api import TEST_JWT_SECRET, ApiServer, api_settings
from tests.support.chain import Driver
from veriframe_core.processes import free_port
from veriframe_core.warehouse.engine import make_engine


def test_ipfs_is_not_checked_unless_configured(api: httpx.Client) -> None:
    health = api.get("/health").json()
    assert health["ipfs"] == {"status": "not_configured", "url": None, "version": None}
    assert health["status"] == "ok"


def test_an_unreachable_ipfs_node_degrades_health(chain: Driver, warehouse: sa.Engine) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    server = ApiServer(api_settings(chain, ipfs_api_url=url), warehouse).start()
    try:
        health = httpx.get(f"{server.url}/health", timeout=10).json()
    finally:
        server.stop()
    assert health["ipfs"] == {"status": "unreachable", "url": url, "version": None}
    assert health["status"] == "degraded" and health["database"] == "ok"


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
    finally:
        server.stop()
        nowhere.dispose()
    for answer in answers:
        assert answer.status_code == 503, answer.text
        assert answer.json()["error"]["code"] == "unavailable"
        assert answer.headers["Retry-After"] == "5"
