"""The HTTP side of devchain: JSON-RPC 2.0 over POST (single and batch requests)."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from aiohttp import web

from devchain.chain import Chain
from devchain.errors import RpcError
from devchain.rpc import Methods, RawResult

log = logging.getLogger("devchain")


def _encode(request_id: Any, result: Any) -> bytes:
    head = b'{"jsonrpc":"2.0","id":' + orjson.dumps(request_id)
    if isinstance(result, RawResult):
        return head + b',"result":' + result.payload + b"}"
    return head + b',"result":' + orjson.dumps(result) + b"}"


def _error(request_id: Any, error: RpcError) -> bytes:
    return orjson.dumps({"jsonrpc": "2.0", "id": request_id, "error": error.to_json()})


def handle_one(methods: Methods, request: Any) -> bytes:
    """Answer one JSON-RPC request object; never raises."""
    if not isinstance(request, dict) or not isinstance(request.get("method"), str):
        return _error(None, RpcError(-32600, "Invalid Request"))
    request_id = request.get("id")
    try:
        return _encode(request_id, methods.dispatch(request["method"], request.get("params")))
    except RpcError as err:
        return _error(request_id, err)
    except Exception as err:  # a bug must answer, not drop the connection
        log.exception("devchain: %s failed", request["method"])
        return _error(request_id, RpcError(63, "An unexpected error occurred", str(err)))


def build_app(chain: Chain) -> web.Application:
    """The aiohttp application serving `chain` at `/` and `/rpc`."""
    methods = Methods(chain)

    async def rpc(request: web.Request) -> web.Response:
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            return _json(_error(None, RpcError(-32700, "Parse error")))
        if isinstance(body, list):
            if not body:
                return _json(_error(None, RpcError(-32600, "Invalid Request", "empty batch")))
            return _json(b"[" + b",".join(handle_one(methods, r) for r in body) + b"]")
        return _json(handle_one(methods, body))

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "block_number": chain.latest.number})

    app = web.Application(client_max_size=32 * 1024 * 1024)
    app.router.add_post("/", rpc)
    app.router.add_post("/rpc", rpc)
    app.router.add_get("/health", health)
    return app


def _json(payload: bytes) -> web.Response:
    return web.Response(body=payload, content_type="application/json")
