"""The platform's IPFS node as the API streams through it: a creator's scene in (`add`, pinned),
a verified frame out (`cat`). Bodies pass through in chunks, never whole in memory, so a 2 GB
scene costs the API a few buffers, not 2 GB.

Kubo's `add` pins only once the whole body has arrived: a body cut short (over the size cap,
the client gone) is an aborted request that leaves nothing pinned. It is asked for CIDv0,
which always fits the JobRegistry's two short strings.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections.abc import AsyncIterator

import httpx

TIMEOUT = httpx.Timeout(30, read=600)
"""Kubo answers `add` only after the last byte is in and hashed: minutes for a large scene."""


class KuboUnavailable(RuntimeError):
    """The node could not be reached, or failed; the message says which node and why."""


class TooLarge(Exception):
    """The body went past the cap while it streamed."""


BLOCK = 1 << 20
"""Bytes passed on to the node per write: the server reads a body in 64 KiB pieces, and a
write per piece halved the upload's throughput (bench/asset_throughput.py)."""


async def capped(chunks: AsyncIterator[bytes], cap: int) -> AsyncIterator[bytes]:
    """`chunks` regrouped in blocks of `BLOCK` bytes, until more than `cap` bytes have
    passed: then TooLarge."""
    size, pending = 0, bytearray()
    async for chunk in chunks:
        size += len(chunk)
        if size > cap:
            raise TooLarge(f"more than {cap:,} bytes")
        pending += chunk
        if len(pending) >= BLOCK:
            yield bytes(pending)
            pending.clear()
    if pending:
        yield bytes(pending)


AHEAD = 8
"""Blocks read ahead of the node (`read_ahead`): 8 MiB an upload may hold in memory."""


async def read_ahead(blocks: AsyncIterator[bytes], depth: int = AHEAD) -> AsyncIterator[bytes]:
    """`blocks`, read by a task of their own up to `depth` ahead of the consumer. The server
    stops reading a body the app does not take: read and sent in one task, the client's
    bytes wait while the node takes each block, and the two never overlap (an upload
    through the API ran at 0.64 of one straight to the node; bench/asset_throughput.py).
    What `blocks` raises is raised here, in order."""
    queue: asyncio.Queue[bytes | Exception | None] = asyncio.Queue(depth)

    async def pump() -> None:
        try:
            async for block in blocks:
                await queue.put(block)
        except Exception as err:
            await queue.put(err)
        else:
            await queue.put(None)

    task = asyncio.create_task(pump())
    try:
        while (item := await queue.get()) is not None:
            if isinstance(item, Exception):
                raise item
            yield item
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _multipart(boundary: str) -> tuple[bytes, bytes]:
    """What goes before and after the file in the one-part form Kubo's `add` reads."""
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="scene"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    return head, f"\r\n--{boundary}--\r\n".encode()


async def _framed(head: bytes, chunks: AsyncIterator[bytes], tail: bytes) -> AsyncIterator[bytes]:
    yield head
    async for chunk in chunks:
        yield chunk
    yield tail


async def add(
    client: httpx.AsyncClient, node: str, chunks: AsyncIterator[bytes], length: int | None
) -> tuple[str, int]:
    """Stream `chunks` (`length` bytes, when known) into the node, pinned (CIDv0); the CID
    and its size. TooLarge (from `chunks`) propagates with nothing pinned. A known length
    goes on as the form's `Content-Length`: a chunked body is slower for the node to read."""
    boundary = secrets.token_hex(16)
    head, tail = _multipart(boundary)
    url = f"{node.rstrip('/')}/api/v0/add"
    params = {"pin": "true", "cid-version": "0", "quieter": "true", "progress": "false"}
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    if length is not None:
        headers["Content-Length"] = str(len(head) + length + len(tail))
    try:
        answer = await client.post(
            url, params=params, headers=headers, content=_framed(head, chunks, tail)
        )
    except httpx.TransportError as err:
        raise KuboUnavailable(f"the IPFS node at {node} is unreachable ({err!r})") from None
    if answer.status_code == 413:  # the node's own cap
        raise TooLarge(f"more than the IPFS node at {node} takes")
    if answer.status_code != 200:
        raise KuboUnavailable(f"the IPFS node at {node} answered {answer.status_code}")
    added = json.loads(answer.text.strip().splitlines()[-1])
    return added["Hash"], int(added["Size"])


async def open_cat(client: httpx.AsyncClient, node: str, cid: str) -> httpx.Response:
    """The node's answer for the content of `cid`, its body still to be streamed (the caller
    closes it); KuboUnavailable when the node cannot serve it, before anything is sent."""
    request = client.build_request("POST", f"{node.rstrip('/')}/api/v0/cat", params={"arg": cid})
    try:
        answer = await client.send(request, stream=True)
    except httpx.TransportError as err:
        raise KuboUnavailable(f"the IPFS node at {node} is unreachable ({err!r})") from None
    if answer.status_code != 200:
        await answer.aclose()
        raise KuboUnavailable(f"the IPFS node at {node} could not read {cid}")
    return answer
