"""The HTTP facade: the Kubo RPC subset the platform uses, and a read-only gateway, served
until SIGINT/SIGTERM by `veriframe ipfs` and `python -m kubonode`.

- `POST /api/v0/add` (multipart, one or more files; `only-hash`, `pin`, `cid-version=0`)
- `POST /api/v0/cat?arg=CID[&offset&length]`
- `POST /api/v0/pin/add?arg=CID`, `pin/rm?arg=CID`, `pin/ls[?arg=CID]` (recursive pins only)
- `POST /api/v0/version`
- `GET|HEAD /ipfs/{cid}` (the gateway)

As in Kubo, the RPC API takes POST only (405 otherwise) and answers errors as
`{"Message", "Code", "Type": "error"}` (400 for a bad request, 404 for content the node does
not hold, 500 for its own failures). Options the node cannot honour (CIDv1, raw leaves, other
chunkers) are refused with a 400 rather than answered with a CID another node would not give.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import tempfile
from pathlib import Path

from aiohttp import web

from kubonode.node import KUBO_VERSION, REPO_VERSION, KuboNode, KuboNodeError, NotHeld
from veriframe_core.serving import listening, until_stopped

log = logging.getLogger("kubonode")

API = "/api/v0"
CHUNK = 1 << 16
DEFAULT_MAX_UPLOAD_BYTES = 8 * 1024**3
_TRUE = ("true", "1", "")
_PNG, _JPEG = b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff"


class RpcError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def _error(status: int, message: str) -> web.Response:
    code = {400: 1, 404: 3}.get(status, 0)
    body = {"Message": message, "Code": code, "Type": "error"}
    return web.json_response(body, status=status)


def _flag(request: web.Request, name: str, default: bool) -> bool:
    value = request.query.get(name)
    return default if value is None else value.lower() in _TRUE


def _arg(request: web.Request) -> str:
    cid = request.query.get("arg")
    if not cid:
        raise RpcError(400, "argument 'arg' is required")
    if "/" in cid.removeprefix("/ipfs/"):
        raise RpcError(400, f"paths are not supported by this node, only CIDs: {cid!r}")
    return cid.removeprefix("/ipfs/")


@web.middleware
async def _rpc_errors(request: web.Request, handler) -> web.StreamResponse:
    if request.path.startswith(API) and request.method != "POST":
        return _error(405, f"{request.method} not allowed: the RPC API takes POST")
    try:
        return await handler(request)
    except RpcError as err:
        return _error(err.status, str(err))
    except NotHeld as err:
        return _error(404, str(err))
    except KuboNodeError as err:
        log.error("kubonode: %s", err)
        return _error(500, str(err))


class Facade:
    def __init__(self, node: KuboNode, uploads: Path, max_upload_bytes: int):
        self.node = node
        self.uploads = uploads
        self.max_upload_bytes = max_upload_bytes

    async def version(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"Version": KUBO_VERSION, "Commit": "", "Repo": REPO_VERSION, "System": "kubonode"}
        )

    async def add(self, request: web.Request) -> web.StreamResponse:
        if request.query.get("cid-version", "0") != "0" or _flag(request, "raw-leaves", False):
            raise RpcError(400, "this node adds CIDv0 only (no cid-version=1, no raw-leaves)")
        if request.query.get("chunker", "size-262144") != "size-262144":
            raise RpcError(400, "this node chunks with size-262144 only")
        if _flag(request, "wrap-with-directory", False):
            raise RpcError(400, "wrap-with-directory is not supported by this node")
        if not _flag(request, "pin", True):
            raise RpcError(400, "pin=false is not supported by this node: what it holds is pinned")
        only_hash = _flag(request, "only-hash", False)
        if not request.content_type.startswith("multipart/"):
            raise RpcError(400, "file argument 'path' is required (a multipart/form-data body)")
        reader = await request.multipart()
        results, total = [], 0
        async for part in reader:
            if part.filename is None and part.name not in ("file", "path"):
                continue
            if part.headers.get("Content-Type", "").startswith("application/x-directory"):
                raise RpcError(400, "directories are not supported by this node: add files")
            handle, name = tempfile.mkstemp(dir=self.uploads, prefix="add-")
            path = Path(name)
            try:
                size = 0
                with os.fdopen(handle, "wb") as out:
                    while chunk := await part.read_chunk(CHUNK):
                        size += len(chunk)
                        total += len(chunk)
                        if total > self.max_upload_bytes:
                            raise RpcError(
                                413, f"upload larger than {self.max_upload_bytes:,} bytes"
                            )
                        out.write(chunk)
                cid = await asyncio.to_thread(self.node.add, path, only_hash=only_hash)
            finally:
                path.unlink(missing_ok=True)
            results.append({"Name": part.filename or "", "Hash": cid, "Size": str(size)})
        if not results:
            raise RpcError(400, "file argument 'path' is required")
        body = "".join(json.dumps(r) + "\n" for r in results)
        return web.Response(text=body, content_type="application/json")

    async def cat(self, request: web.Request) -> web.StreamResponse:
        cid = _arg(request)
        offset = int(request.query.get("offset", 0))
        length = request.query.get("length")
        return await self._serve(request, cid, offset, None if length is None else int(length))

    async def pin_add(self, request: web.Request) -> web.Response:
        cids = request.query.getall("arg", [])
        if not cids:
            raise RpcError(400, "argument 'arg' is required")
        for cid in cids:
            await asyncio.to_thread(self.node.pin, cid)
        return web.json_response({"Pins": cids})

    async def pin_rm(self, request: web.Request) -> web.Response:
        cid = _arg(request)
        if not await asyncio.to_thread(self.node.unpin, cid):
            raise RpcError(500, "not pinned or pinned indirectly")  # Kubo's words
        return web.json_response({"Pins": [cid]})

    async def pin_ls(self, request: web.Request) -> web.Response:
        pinned = self.node.pinned()
        if "arg" in request.query:
            cid = _arg(request)
            if cid not in pinned:
                raise RpcError(500, f"path '{cid}' is not pinned")  # Kubo's words
            pinned = {cid}
        return web.json_response({"Keys": {cid: {"Type": "recursive"} for cid in sorted(pinned)}})

    async def gateway(self, request: web.Request) -> web.StreamResponse:
        cid = request.match_info["cid"]
        try:
            return await self._serve(request, cid, 0, None, gateway=True)
        except (NotHeld, RpcError) as err:
            raise web.HTTPNotFound(text=f"{err}\n") from None

    async def _serve(
        self,
        request: web.Request,
        cid: str,
        offset: int,
        length: int | None,
        *,
        gateway: bool = False,
    ) -> web.StreamResponse:
        if not self.node.holds(cid):
            raise NotHeld(f"{cid} is not on this node (it is offline: add the content first)")
        handle, name = tempfile.mkstemp(dir=self.uploads, prefix="cat-")
        os.close(handle)
        path = Path(name)
        try:
            await asyncio.to_thread(self.node.read_into, cid, path)
            size = path.stat().st_size
            start = min(offset, size)
            end = size if length is None else min(size, start + length)
            response = web.StreamResponse()
            response.content_length = end - start
            with path.open("rb") as data:
                data.seek(start)
                head = data.read(min(CHUNK, end - start))
                if gateway:
                    response.content_type = _content_type(head)
                    response.headers["Cache-Control"] = "public, max-age=29030400, immutable"
                    response.headers["Etag"] = f'"{cid}"'
                else:
                    response.content_type = "text/plain"
                    response.headers["X-Stream-Output"] = "1"
                await response.prepare(request)
                if request.method == "HEAD":
                    return response
                remaining = end - start - len(head)
                await response.write(head)
                while remaining > 0:
                    chunk = data.read(min(CHUNK, remaining))
                    remaining -= len(chunk)
                    await response.write(chunk)
            await response.write_eof()
            return response
        finally:
            path.unlink(missing_ok=True)


def _content_type(head: bytes) -> str:
    if head.startswith(_PNG):
        return "image/png"
    if head.startswith(_JPEG):
        return "image/jpeg"
    return "application/octet-stream"


def build_app(
    node: KuboNode, uploads: Path, max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
) -> web.Application:
    uploads.mkdir(parents=True, exist_ok=True)
    for stale in uploads.iterdir():  # left by a crash
        with contextlib.suppress(OSError):
            stale.unlink()
    facade = Facade(node, uploads, max_upload_bytes)
    app = web.Application(middlewares=[_rpc_errors])
    app.router.add_route("*", f"{API}/version", facade.version)
    app.router.add_route("*", f"{API}/add", facade.add)
    app.router.add_route("*", f"{API}/cat", facade.cat)
    app.router.add_route("*", f"{API}/pin/add", facade.pin_add)
    app.router.add_route("*", f"{API}/pin/rm", facade.pin_rm)
    app.router.add_route("*", f"{API}/pin/ls", facade.pin_ls)
    app.router.add_get("/ipfs/{cid}", facade.gateway)  # HEAD too
    return app


def run(host: str, port: int, repo: Path) -> None:
    """Serve until stopped; the repository keeps what was added across restarts."""
    asyncio.run(_serve(host, port, Path(repo).expanduser().resolve()))


async def _serve(host: str, port: int, repo: Path) -> None:
    node = await asyncio.to_thread(KuboNode, repo)
    app = build_app(node, repo / "facade-tmp")
    try:
        async with listening(
            app, host, port, name="the IPFS node", port_setting="VERIFRAME_IPFS_PORT"
        ):
            url = f"http://{host}:{port}"
            log.info(
                "kubonode: Kubo %s serving the RPC API at %s/api/v0 and the gateway at %s/ipfs, "
                "offline, repository %s",
                KUBO_VERSION,
                url,
                url,
                repo,
            )
            await until_stopped()
    finally:
        node.close()
    log.info("kubonode: stopped")
