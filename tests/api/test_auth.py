"""Signed login over real HTTP: starknet-py accounts sign SNIP-12 challenges, the account
contracts on devchain judge the signatures, tokens are typed, refresh rotates, logout ends."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator

import httpx
import pytest
import sqlalchemy as sa
from pydantic import ValidationError
from websockets.sync.client import connect as websocket_connect

from tests.support.api import ApiServer, api_settings, bearer, sign_in
from tests.support.chain import Driver
from tests.support.proxy import Nginx
from veriframe_core.chain.addresses import normalize_address
from veriframe_core.processes import free_port
from veriframe_core.settings import Settings


def challenge_for(api: httpx.Client, account) -> dict:
    answer = api.post("/api/v1/auth/challenge", json={"address": hex(account.address)})
    assert answer.status_code == 200, answer.text
    return answer.json()


def login(api: httpx.Client, challenge: dict, signature: list[int], address=None):
    return api.post(
        "/api/v1/auth/worker-auth",
        json={
            "address": address or challenge["address"],
            "nonce": challenge["nonce"],
            "signature": [hex(x) for x in signature],
        },
    )


def assert_unauthorized(answer: httpx.Response, words: str = "") -> None:
    assert answer.status_code == 401, answer.text
    error = answer.json()["error"]
    assert error["code"] == "unauthorized" and words in error["message"]
    assert answer.headers["www-authenticate"] == "Bearer"


def test_a_worker_signs_the_challenge_and_logs_in(api: httpx.Client, chain: Driver) -> None:
    account = chain.accounts[4]
    challenge = challenge_for(api, account)
    assert challenge["typed_data"]["domain"]["revision"] == "1"
    assert int(challenge["chain_id"], 16) == chain.chain_id
    assert challenge["expires_at"] - challenge["issued_at"] == 300
    tokens = sign_in(api, account)
    assert tokens["token_type"] == "bearer" and tokens["roles"] == ["worker"]
    me = api.get("/api/v1/auth/me", headers=bearer(tokens)).json()
    assert me["address"] == normalize_address(account.address) and me["roles"] == ["worker"]


def test_the_contract_owner_is_an_admin(api: httpx.Client, chain: Driver) -> None:
    tokens = sign_in(api, chain.owner, "authenticate")
    assert tokens["roles"] == ["creator", "admin"]
    assert sign_in(api, chain.accounts[1], "authenticate")["roles"] == ["creator"]


def test_tampered_or_foreign_signatures_are_refused(api: httpx.Client, chain: Driver) -> None:
    worker, other = chain.accounts[4], chain.accounts[5]
    challenge = challenge_for(api, worker)
    r, s = worker.sign_message(challenge["typed_data"])
    assert_unauthorized(login(api, challenge, [r + 1, s]), "does not accept")
    # the right key, but over the message of another chain
    wrong_chain = copy.deepcopy(challenge["typed_data"])
    wrong_chain["domain"]["chainId"] = "SN_MAIN"
    assert_unauthorized(login(api, challenge, worker.sign_message(wrong_chain)))
    # another account's key over this address's challenge
    assert_unauthorized(login(api, challenge, other.sign_message(challenge["typed_data"])))
    # a valid signature sent for another address: no challenge of that address has this nonce
    assert_unauthorized(
        login(api, challenge, [r, s], address=hex(other.address)), "unknown challenge"
    )
    # none of those used the challenge up: the right signature still logs in
    assert login(api, challenge, [r, s]).status_code == 200


def test_a_challenge_is_single_use(api: httpx.Client, chain: Driver) -> None:
    account = chain.accounts[6]
    challenge = challenge_for(api, account)
    signature = account.sign_message(challenge["typed_data"])
    assert login(api, challenge, signature).status_code == 200
    assert_unauthorized(login(api, challenge, signature), "already used")


def test_an_expired_challenge_is_refused(
    api: httpx.Client, chain: Driver, warehouse: sa.Engine
) -> None:
    account = chain.accounts[7]
    challenge = challenge_for(api, account)
    signature = account.sign_message(challenge["typed_data"])
    with warehouse.begin() as conn:  # five minutes pass
        conn.execute(
            sa.text(
                "UPDATE auth_challenges SET expires_at = now() - interval '1 second' "
                "WHERE nonce = :n"
            ),
            {"n": challenge["nonce"]},
        )
    assert_unauthorized(login(api, challenge, signature), "expired")


def test_refresh_and_access_tokens_do_not_stand_in_for_each_other(
    api: httpx.Client, chain: Driver
) -> None:
    tokens = sign_in(api, chain.accounts[8])
    as_access = {"Authorization": f"Bearer {tokens['refresh_token']}"}
    assert_unauthorized(api.get("/api/v1/auth/me", headers=as_access), "refresh token")
    assert_unauthorized(
        api.post("/api/v1/auth/refresh", json={"refresh_token": tokens["access_token"]}),
        "access token",
    )
    assert_unauthorized(api.get("/api/v1/auth/me"), "authentication required")
    assert_unauthorized(api.get("/api/v1/auth/me", headers={"Authorization": "Bearer x.y.z"}))


def test_refresh_rotates_and_a_reused_refresh_token_ends_the_session(
    api: httpx.Client, chain: Driver
) -> None:
    first = sign_in(api, chain.accounts[9])
    second = api.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200, second.text
    second = second.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert api.get("/api/v1/auth/me", headers=bearer(second)).status_code == 200
    # the old refresh token again: somebody copied it, so the whole session ends
    reused = api.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert_unauthorized(reused, "already used")
    after = api.post("/api/v1/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert_unauthorized(after, "revoked")


def test_logout_ends_the_session_for_changes(api: httpx.Client, chain: Driver) -> None:
    tokens = sign_in(api, chain.accounts[10])
    profile = {"capabilities": {"devices": ["CPU"]}}
    assert api.post("/api/v1/workers/register", json=profile, headers=bearer(tokens)).is_success
    out = api.post("/api/v1/auth/logout", headers=bearer(tokens))
    assert out.status_code == 200 and out.json()["revoked"] is True
    assert_unauthorized(
        api.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}),
        "revoked",
    )
    again = api.post("/api/v1/workers/register", json=profile, headers=bearer(tokens))
    assert_unauthorized(again, "session ended")


@pytest.mark.parametrize(
    "body",
    [
        {"address": "0x1", "nonce": "0x1", "signature": ["zz"]},
        {"address": "0x1", "nonce": "not a felt", "signature": ["0x1"]},
        {"address": "0x1", "nonce": "0x1", "signature": []},
        {"address": "0x1", "nonce": "0x1", "signature": ["0x1"] * 65},
        {"address": hex(2**252), "nonce": "0x1", "signature": ["0x1"]},
        {"nonce": "0x1", "signature": ["0x1"]},
    ],
)
def test_malformed_logins_are_422(api: httpx.Client, body: dict) -> None:
    answer = api.post("/api/v1/auth/worker-auth", json=body)
    assert answer.status_code == 422 and answer.json()["error"]["code"] == "invalid_request"


@pytest.fixture
def strict_api(chain: Driver, warehouse: sa.Engine) -> Iterator[httpx.Client]:
    server = ApiServer(api_settings(chain, api_auth_rate_per_minute=3), warehouse).start()
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client
    server.stop()


def test_auth_endpoints_are_rate_limited(strict_api: httpx.Client, warehouse: sa.Engine) -> None:
    with warehouse.begin() as conn:  # other tests' requests this minute count too
        conn.execute(sa.text("DELETE FROM rate_limits"))
    body = {"address": "0x1234"}
    answers = [strict_api.post("/api/v1/auth/challenge", json=body) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[-1].json()["error"]["code"] == "rate_limited"
    assert answers[-1].headers["retry-after"] == "60"
    # each endpoint has its own budget
    refresh = strict_api.post("/api/v1/auth/refresh", json={"refresh_token": "x"})
    assert refresh.status_code == 401


@pytest.fixture
def proxied(chain: Driver, warehouse: sa.Engine, tmp_path) -> Iterator[tuple[ApiServer, Nginx]]:
    """The API with a login budget of 3 a minute behind nginx (deploy/'s config), trusting it."""
    settings = api_settings(chain, api_auth_rate_per_minute=3, api_trusted_proxies="127.0.0.1")
    server = ApiServer(settings, warehouse).start()
    proxy = Nginx(server.url, tmp_path).start()
    yield server, proxy
    proxy.stop()
    server.stop()


def client_from(address: str, base_url: str) -> httpx.Client:
    """A client whose connections leave from `address` (any of 127/8 is this machine)."""
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(base_url=base_url, transport=transport, timeout=30)


def budget_keys(warehouse: sa.Engine) -> set[str]:
    with warehouse.begin() as conn:
        return set(conn.execute(sa.text("SELECT key FROM rate_limits")).scalars())


def test_behind_a_trusted_proxy_each_client_has_its_own_login_budget(
    proxied: tuple[ApiServer, Nginx], warehouse: sa.Engine
) -> None:
    server, proxy = proxied
    with warehouse.begin() as conn:
        conn.execute(sa.text("DELETE FROM rate_limits"))
    body = {"address": "0x1234"}
    with client_from("127.0.0.2", proxy.url) as a, client_from("127.0.0.3", proxy.url) as b:
        answers = [a.post("/api/v1/auth/challenge", json=body).status_code for _ in range(4)]
        assert answers == [200, 200, 200, 429]
        assert b.post("/api/v1/auth/challenge", json=body).status_code == 200
        # the edge proxy overwrites X-Forwarded-For: a client cannot spend another's budget
        forged = a.post(
            "/api/v1/auth/challenge", json=body, headers={"X-Forwarded-For": "10.9.9.9"}
        )
        assert forged.status_code == 429
    path = "/api/v1/auth/challenge"
    assert budget_keys(warehouse) == {f"{path}:127.0.0.2", f"{path}:127.0.0.3"}
    # from an address not trusted the header is ignored: the caller is known by its own
    with client_from("127.0.0.4", server.url) as direct:
        direct.post(path, json=body, headers={"X-Forwarded-For": "10.8.8.8"})
    assert f"{path}:127.0.0.4" in budget_keys(warehouse)
    assert not any("10." in key for key in budget_keys(warehouse))


def test_live_updates_pass_through_the_proxy(proxied: tuple[ApiServer, Nginx]) -> None:
    _, proxy = proxied
    url = proxy.url.replace("http", "ws", 1) + "/api/v1/ws"
    with websocket_connect(url, open_timeout=10) as ws:
        ws.send(json.dumps({"action": "subscribe", "topic": "jobs:available"}))
        assert json.loads(ws.recv(timeout=10))["type"] == "subscribed"


@pytest.mark.parametrize("value", ["proxy.internal", "10.0.0.300", "10.0.0.0/33"])
def test_a_trusted_proxy_must_be_an_address_or_network(value: str) -> None:
    with pytest.raises(ValidationError, match="not an IP address or network"):
        Settings(api_trusted_proxies=f"10.0.0.5,{value}")
    assert Settings(api_trusted_proxies="10.0.0.5, 172.16.0.0/12").api_trusted_proxies == [
        "10.0.0.5",
        "172.16.0.0/12",
    ]


def test_an_unreachable_node_is_503_not_a_bad_signature(
    chain: Driver, warehouse: sa.Engine
) -> None:
    settings = api_settings(chain, starknet_rpc_url=f"http://127.0.0.1:{free_port()}/rpc")
    server = ApiServer(settings, warehouse).start()
    try:
        answer = httpx.post(f"{server.url}/api/v1/auth/challenge", json={"address": "0x5"})
        assert answer.status_code == 503 and answer.json()["error"]["code"] == "unavailable"
        assert "StarkNet node" in answer.json()["error"]["message"]
    finally:
        server.stop()
