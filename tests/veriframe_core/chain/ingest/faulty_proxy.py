"""A real HTTP proxy in front of devchain that can fail, hang or slow down chosen methods.

Not a mock: the ingestor talks HTTP to it exactly as to a node, and every request it lets
through is answered by the real devchain. It only injects the faults a network and a node
produce (HTTP 500, JSON-RPC errors, timeouts, slowness).
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field

import aiohttp
import orjson
from aiohttp import web

from veriframe_core.processes import free_port


@dataclass
class Faults:
    http_500: set[str] = field(default_factory=set)  # methods answered with HTTP 500
    rpc_error: set[str] = field(default_factory=set)  # methods answered with JSON-RPC error 63
    hang: set[str] = field(default_factory=set)  # methods left unanswered (client times out)
    delay_s: dict[str, float] = field(default_factory=dict)  # methods answered late

    def clear(self) -> None:
        self.http_500.clear()
        self.rpc_error.clear()
        self.hang.clear()
        self.delay_s.clear()


class FaultyProxy:
    """Forwards JSON-RPC to `upstream`; serves on its own port from a background thread."""

    def __init__(self, upstream: str):
        self.upstream = upstream
        self.faults = Faults()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/rpc"
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _methods(self, body: object) -> set[str]:
        items = body if isinstance(body, list) else [body]
        return {i.get("method", "") for i in items if isinstance(i, dict)}

    async def _handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        body = orjson.loads(raw)
        methods = self._methods(body)
        if methods & self.faults.hang:
            await self._release.wait()  # until the test stops the proxy
            return web.Response(status=503, text="stopped")
        for method in methods:
            if method in self.faults.delay_s:
                await asyncio.sleep(self.faults.delay_s[method])
        if methods & self.faults.http_500:
            return web.Response(status=500, text="injected failure")
        if methods & self.faults.rpc_error:
            error = {"code": 63, "message": "An unexpected error occurred"}
            items = body if isinstance(body, list) else [body]
            answers = [{"jsonrpc": "2.0", "id": i.get("id"), "error": error} for i in items]
            payload = answers if isinstance(body, list) else answers[0]
            return web.Response(body=orjson.dumps(payload), content_type="application/json")
        async with self._session.post(
            self.upstream, data=raw, headers={"Content-Type": "application/json"}
        ) as upstream:
            return web.Response(body=await upstream.read(), content_type="application/json")

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def start() -> None:
            self._release = asyncio.Event()
            self._session = aiohttp.ClientSession()
            app = web.Application(client_max_size=64 * 1024 * 1024)
            app.router.add_post("/rpc", self._handle)
            self._runner = web.AppRunner(app)
            await self._runner.setup()
            await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
            self._ready.set()

        self._loop.run_until_complete(start())
        self._loop.run_forever()

    def start(self) -> FaultyProxy:
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self) -> None:
        async def shutdown() -> None:
            self._release.set()
            await self._runner.cleanup()
            await self._session.close()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
