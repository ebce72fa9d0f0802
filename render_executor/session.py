"""The agent's session with the API: signed login with the worker's StarkNet key, access
tokens attached to every request, refreshed (or the login redone) when one is refused.

The key signs the API's SNIP-12 challenge locally; it never leaves the machine.
"""

from __future__ import annotations

import threading
from collections.abc import Generator

import httpx
from starknet_py.net.signer.key_pair import KeyPair
from starknet_py.net.signer.stark_curve_signer import StarkCurveSigner
from starknet_py.utils.typed_data import TypedData

AUTH = "/api/v1/auth"


class LoginRefused(RuntimeError):
    """The API would not log this worker in; the message says why."""


class WorkerAuth(httpx.Auth):
    """httpx authentication of a worker account: log in on first use, refresh on a 401.
    With `endpoint="authenticate"`, the same for a creator (`veriframe submit`)."""

    requires_response_body = True

    def __init__(self, api_url: str, address: int, private_key: int, endpoint: str = "worker-auth"):
        self.api_url = api_url.rstrip("/")
        self.endpoint = endpoint
        self.address = address
        self.key_pair = KeyPair.from_private_key(private_key)
        self.access: str | None = None
        self.refresh: str | None = None
        self._lock = threading.Lock()  # several threads share one agent session

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        with self._lock:
            if self.access is None:
                yield from self._login()
            token = self.access
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code != 401:
            return
        with self._lock:
            if self.access == token:  # nobody renewed it meanwhile
                yield from self._renew()
            token = self.access
        request.headers["Authorization"] = f"Bearer {token}"
        yield request

    def _renew(self) -> Generator[httpx.Request, httpx.Response, None]:
        if self.refresh is not None:
            answer = yield httpx.Request(
                "POST", f"{self.api_url}{AUTH}/refresh", json={"refresh_token": self.refresh}
            )
            if answer.status_code == 200:
                self._keep(answer)
                return
        yield from self._login()

    def _login(self) -> Generator[httpx.Request, httpx.Response, None]:
        challenge = yield httpx.Request(
            "POST", f"{self.api_url}{AUTH}/challenge", json={"address": hex(self.address)}
        )
        _refused(challenge)
        body = challenge.json()
        signer = StarkCurveSigner(self.address, self.key_pair, chain_id=0)  # messages only
        signature = signer.sign_message(TypedData.from_dict(body["typed_data"]), self.address)
        answer = yield httpx.Request(
            "POST",
            f"{self.api_url}{AUTH}/{self.endpoint}",
            json={
                "address": body["address"],
                "nonce": body["nonce"],
                "signature": [hex(x) for x in signature],
            },
        )
        _refused(answer)
        self._keep(answer)

    def _keep(self, answer: httpx.Response) -> None:
        tokens = answer.json()
        self.access, self.refresh = tokens["access_token"], tokens["refresh_token"]


def error_message(answer: httpx.Response) -> str:
    """What the API says went wrong (its one error shape), or the start of the body."""
    try:
        return answer.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        return f"{answer.status_code} {answer.text[:200]}"


def _refused(answer: httpx.Response) -> None:
    if answer.status_code != 200:
        raise LoginRefused(f"login refused ({answer.status_code}): {error_message(answer)}")
