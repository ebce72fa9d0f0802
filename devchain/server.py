"""The HTTP side of devchain: JSON-RPC 2.0 over POST (single and batch requests), served
until SIGINT/SIGTERM by `veriframe devchain` and `python -m devchain`."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

from devchain.chain import Chain
from devchain.errors import RpcError
from devchain.genesis import open_chain, write_chain_file
from devchain.rpc import Methods, RawResult
from veriframe_core.serving import listening, until_stopped

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


def run(host: str, port: int, state_dir: Path, chain_id: str, seed: int, accounts: int) -> None:
    """Serve until stopped; the state folder keeps the chain across restarts."""
    asyncio.run(_serve(host, port, state_dir, chain_id, seed, accounts))


async def _serve(
    host: str, port: int, state_dir: Path, chain_id: str, seed: int, accounts: int
) -> None:
    chain = open_chain(state_dir, chain_id, seed, accounts)
    try:
        async with listening(
            build_app(chain), host, port, name="devchain", port_setting="VERIFRAME_DEVCHAIN_PORT"
        ):
            url = f"http://{host}:{port}/rpc"
            chain_file = state_dir / "chain.json"
            info = write_chain_file(chain, chain_file, url)
            log.info(
                "devchain: serving %s (chain %s, block %d); JobRegistry %s; chain file %s",
                url,
                info["chain_id_name"],
                chain.latest.number,
                info["job_registry_address"],
                chain_file,
            )
            await until_stopped()
    finally:
        if chain.pending is not None and chain.pending.transactions:
            chain.mine()  # keep accepted transactions: seal the pre-confirmed block
        chain.close()
    log.info("devchain: stopped at block %d", chain.latest.number)
