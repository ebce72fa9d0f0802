"""Signed login to the API with a StarkNet account, the client side: what the worker agent
and `veriframe submit` both use.

The account's key signs the API's SNIP-12 challenge locally (it never leaves the machine);
the access token then goes with every request, and is refreshed, or the login redone, when
the API refuses it. The messages are `veriframe_core.protocol`'s.
"""

from __future__ import annotations

import threading
from collections.abc import Generator
from typing import Literal

import httpx
from starknet_py.net.signer.key_pair import KeyPair
from starknet_py.net.signer.stark_curve_signer import StarkCurveSigner
from starknet_py.utils.typed_data import TypedData

from veriframe_core.protocol import (
    ChallengeRequest,
    ChallengeResponse,
    LoginRequest,
    RefreshRequest,
    TokenPair,
    error_message,
)

AUTH = "/api/v1/auth"
LOGIN_ENDPOINTS = {"worker": "worker-auth", "creator": "authenticate"}
"""Where each role logs in."""


class LoginRefused(RuntimeError):
    """The API would not log this account in; the message says why, `status_code` what kind
    of refusal it was (a 503: the API cannot reach the chain to check the signature)."""

    def __init__(self, message: str, status_code: int):
        super().__init__(message)
        self.status_code = status_code


class AccountLogin(httpx.Auth):
    """httpx authentication of an account in a role (a worker agent, or a creator): log in on
    first use, refresh on a 401. Thread-safe: several threads share one agent's session."""

    requires_response_body = True

    def __init__(
        self,
        api_url: str,
        address: int,
        private_key: int,
        role: Literal["worker", "creator"] = "worker",
    ):
        self.api_url = api_url.rstrip("/")
        self.endpoint = LOGIN_ENDPOINTS[role]
        self.address = address
        self.key_pair = KeyPair.from_private_key(private_key)
        self.tokens: TokenPair | None = None
        self._lock = threading.Lock()

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        with self._lock:
            if self.tokens is None:
                yield from self._login()
            token = self._access()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code != 401:
            return
        with self._lock:
            if self._access() == token:  # nobody renewed it meanwhile
                yield from self._renew()
            token = self._access()
        request.headers["Authorization"] = f"Bearer {token}"
        yield request

    def _access(self) -> str:
        assert self.tokens is not None
        return self.tokens.access_token

    def _renew(self) -> Generator[httpx.Request, httpx.Response, None]:
        if self.tokens is not None:
            body = RefreshRequest(refresh_token=self.tokens.refresh_token)
            answer = yield self._post("refresh", body)
            if answer.status_code == 200:
                self.tokens = TokenPair.model_validate_json(answer.content)
                return
        yield from self._login()

    def _login(self) -> Generator[httpx.Request, httpx.Response, None]:
        answer = yield self._post("challenge", ChallengeRequest(address=hex(self.address)))
        challenge = ChallengeResponse.model_validate_json(_accepted(answer).content)
        signer = StarkCurveSigner(self.address, self.key_pair, chain_id=0)  # messages only
        signature = signer.sign_message(TypedData.from_dict(challenge.typed_data), self.address)
        login = LoginRequest(
            address=challenge.address,
            nonce=challenge.nonce,
            signature=[hex(x) for x in signature],
        )
        answer = yield self._post(self.endpoint, login)
        self.tokens = TokenPair.model_validate_json(_accepted(answer).content)

    def _post(self, endpoint: str, body: ChallengeRequest | LoginRequest | RefreshRequest):
        return httpx.Request(
            "POST", f"{self.api_url}{AUTH}/{endpoint}", json=body.model_dump(mode="json")
        )


def _accepted(answer: httpx.Response) -> httpx.Response:
    if answer.status_code != 200:
        message = f"login refused ({answer.status_code}): {error_message(answer)}"
        raise LoginRefused(message, answer.status_code)
    return answer
