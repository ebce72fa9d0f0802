"""`/health` reports each dependency; an unreachable IPFS node degrades it, an unset one not."""

from __future__ import annotations

import httpx
import sqlalchemy as sa

from devchain.process import free_port
from tests.api.conftest import ApiServer, api_settings
from tests.devchain.conftest import Driver


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
