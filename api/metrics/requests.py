"""Requests of this API process by route: counts by status and latency, measured by a plain
ASGI middleware (a few microseconds a request; Starlette's BaseHTTPMiddleware costs more and
would wrap every response body)."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics
from starlette.types import ASGIApp, Message, Receive, Scope, Send

UNMATCHED = "<unmatched>"
"""The route label of a request no route matched: never the raw path, whose values are
unbounded (each would be a new series)."""


def template(scope: Scope) -> str:
    """The matched route's template with its router's prefix (`/api/v1/jobs/{job_id}`).
    FastAPI hands the route as declared in its router (`/jobs/{job_id}`); the prefix is what
    precedes as many segments of the request's path as the template has."""
    declared = getattr(scope.get("route"), "path", None)
    if declared is None:
        return UNMATCHED
    return scope["path"].rsplit("/", declared.count("/"))[0] + declared


METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
"""Methods counted by name: any other token a client sends is `other`, so no client can add
series without end."""


class RequestMetrics:
    """This process's request counter and latency histogram, in `registry`."""

    def __init__(self, registry: CollectorRegistry):
        # no `_created` series: they would double every label set's series, and Prometheus
        # reads counter resets without them (the switch is prometheus-client's, per process)
        disable_created_metrics()
        self.requests = Counter(
            "veriframe_api_requests",
            "Requests answered by this API process, by route template and status.",
            ["method", "route", "status"],
            registry=registry,
        )
        self.seconds = Histogram(
            "veriframe_api_request_duration_seconds",
            "Time to answer a request, by route template (until the body is sent).",
            ["method", "route"],
            registry=registry,
        )

    def observe(self, scope: Scope, status: int, seconds: float) -> None:
        route = template(scope)
        method = scope["method"] if scope["method"] in METHODS else "other"  # a label per token
        self.requests.labels(method, route, str(status)).inc()
        self.seconds.labels(method, route).observe(seconds)


class MeasureRequests:
    """ASGI middleware: every HTTP request into `metrics` (websockets pass through)."""

    def __init__(self, app: ASGIApp, metrics: RequestMetrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets when the app raises before answering

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            self.metrics.observe(scope, status, time.perf_counter() - started)
