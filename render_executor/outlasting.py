"""What counts as an outage of the API and of the chain, and the API's calls outlasting one.

Every call the agents make to the API goes through `OutlastingTransport`: a request that
reaches no API (refused, reset, timed out) or is answered 502/503/504 by a proxy in front of
it is sent again (`veriframe_core.outages`), so an API restart delays an agent, never stops
it. The API makes this safe: completing, heartbeats, Pipes messages, failing and releasing
are safe to repeat. A claim is not: one whose answer was lost may have been made, so a claim
is sent again only when it surely never arrived (the connection was refused, or a proxy said
the API is away); otherwise the error reaches the agent, and the claim it may have made
lapses with its lease, reopening the job.

A request sent with `ONCE` (a heartbeat: the next one comes anyway) is tried once, its
failure still counted in the outage, so that the outage is logged once, not per heartbeat.
"""

from __future__ import annotations

import asyncio
import time

import httpx
from aiohttp import ClientConnectionError
from starknet_py.net.client_errors import ClientError

from veriframe_core.outages import Outages

ONCE = {"veriframe_once": True}
"""`extensions` of a request that is tried once (its caller tries again on its own)."""
AWAY = (502, 503, 504)
"""A proxy's answers for an API that is down or restarting."""
UNSENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
"""Errors after which the request surely never reached the API."""


class ApiAway(Exception):
    """A proxy answered for the API: it is away. Carries the (read) answer."""

    def __init__(self, response: httpx.Response):
        super().__init__(f"{response.status_code} {response.reason_phrase} from a proxy")
        self.response = response


def _claims(request: httpx.Request) -> bool:
    path = request.url.path
    return path.endswith("/claim-next") or path.endswith("/assign")


class OutlastingTransport(httpx.BaseTransport):
    """httpx's transport, with every request carried through the API's `outages`."""

    def __init__(self, outages: Outages, inner: httpx.BaseTransport | None = None):
        self.outages = outages
        self.inner = inner or httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        def send() -> httpx.Response:
            response = self.inner.handle_request(request)
            if response.status_code in AWAY:
                response.read()
                raise ApiAway(response)
            return response

        claim = _claims(request)

        def transient(err: BaseException) -> bool:
            if isinstance(err, ApiAway):
                return not claim or err.response.status_code != 504
            if isinstance(err, UNSENT):
                return True
            return isinstance(err, httpx.TransportError) and not claim

        try:
            if request.extensions.get("veriframe_once"):
                return self._once(send, transient)
            return self.outages.outlast(send, transient)
        except ApiAway as away:  # given up: the caller reads the proxy's answer
            return away.response

    def _once(self, send, transient) -> httpx.Response:
        sent_at = time.monotonic()
        try:
            response = send()
        except Exception as err:
            if transient(err):
                self.outages.failed(err)
            raise
        self.outages.recovered(sent_at)
        return response

    def close(self) -> None:
        self.inner.close()


def chain_unreachable(err: BaseException) -> bool:
    """Whether a starknet-py call failed because the node could not be reached (or its
    proxy said it is away), rather than because the node said no."""
    if isinstance(err, ClientError):
        return err.code in {str(code) for code in AWAY}
    return isinstance(err, ClientConnectionError | asyncio.TimeoutError | ConnectionError)
