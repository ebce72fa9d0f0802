"""The API served by uvicorn over real HTTP, and logging in to it as a worker does."""

from __future__ import annotations

import itertools
import json
import secrets
import threading
import time
from typing import Any

import httpx
import sqlalchemy as sa
import uvicorn
from starknet_py.net.account.account import Account

from api.app import create_app
from api.auth import store
from api.auth.tokens import TokenIssuer
from tests.support.chain import Driver
from veriframe_core.chain.addresses import normalize_address
from veriframe_core.processes import free_port
from veriframe_core.settings import Settings

TEST_JWT_SECRET = "test-secret-" + "0" * 40


class ApiServer:
    """uvicorn in a thread of the test process, stopped through `should_exit`; started
    again (`start` after `stop`) on the same port, as a restarted API process is."""

    def __init__(self, settings: Settings, engine: sa.Engine):
        self.port = free_port()
        self.settings, self.engine = settings, engine

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ApiServer:
        config = uvicorn.Config(
            create_app(self.settings, self.engine),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            proxy_headers=False,  # as `veriframe api` runs it
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, "API did not start"
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def api_settings(chain: Driver, **changes: Any) -> Settings:
    """Settings of a test API on `chain`: a fixed JWT secret and the chain's registry (never
    the working directory's `.veriframe`), rate limits tests do not trip over, and no wait
    for render settings."""
    values = {
        "starknet_rpc_url": chain.url,
        "api_public_rpc_url": chain.url,  # published to creators, as an operator would
        "job_registry_address": hex(chain.registry.address),
        "api_ready_max_lag_blocks": 0,
        "api_jwt_secret": TEST_JWT_SECRET,
        "api_auth_rate_per_minute": 10_000,
        "api_settings_grace_s": 0,  # jobs claimable at once (the grace has its own test)
        **changes,
    }
    return Settings(**values)


def sign_in(client: httpx.Client, account: Account, endpoint: str = "worker-auth") -> dict:
    """Log in as `account` the way a worker does: challenge, sign with its key, send."""
    challenge = client.post("/api/v1/auth/challenge", json={"address": hex(account.address)})
    assert challenge.status_code == 200, challenge.text
    body = challenge.json()
    signature = account.sign_message(body["typed_data"])
    answer = client.post(
        f"/api/v1/auth/{endpoint}",
        json={
            "address": body["address"],
            "nonce": body["nonce"],
            "signature": [hex(x) for x in signature],
        },
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def bearer(tokens: dict) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


_seeded = itertools.count(1)


def seed_worker(engine: sa.Engine, reputation: int = 700, **columns) -> str:
    """A worker as ingestion would have stored it (registered and verified on chain)."""
    address = normalize_address(0xBEEF0000 + next(_seeded))
    values = {"registered": True, "verified": True, "reputation": reputation, **columns}
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO workers (address, registered, verified, reputation, capabilities) "
                "VALUES (:a, :registered, :verified, :reputation, CAST(:caps AS jsonb))"
            ),
            {"a": address, "caps": json.dumps(values.pop("capabilities", None)), **values},
        )
    return address


def token_for(engine: sa.Engine, address: str, roles: tuple[str, ...] = ("worker",)) -> dict:
    """Tokens of a live session for `address`, as a login would issue them."""
    issuer = TokenIssuer(TEST_JWT_SECRET.encode(), 900, 3600)
    session_id = secrets.token_hex(16)
    _, jti = issuer.refresh_token(address, roles, session_id)
    with engine.begin() as conn:
        store.open_session(conn, session_id, address, roles, jti, 3600)
    return {"access_token": issuer.access_token(address, roles, session_id)}


def seeded(engine: sa.Engine, **columns) -> tuple[str, dict[str, str]]:
    address = seed_worker(engine, **columns)
    return address, bearer(token_for(engine, address))


def error(answer: httpx.Response, status: int) -> str:
    assert answer.status_code == status, answer.text
    return answer.json()["error"]["message"]
