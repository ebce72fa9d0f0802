"""The platform's IPFS node as the API streams through it: a creator's scene in (`add`, pinned),
a verified frame out (`cat`). Bodies pass through in chunks, never whole in memory, so a 2 GB
scene costs the API a few buffers, not 2 GB.

Kubo's `add` pins only once the whole body has arrived: a body cut short (over the size cap,
the client gone) is an aborted request that leaves nothing pinned. It is asked for CIDv0,
which always fits the JobRegistry's two short strings.
"""

from __future__ import annotations

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


async def capped(chunks: AsyncIterator[bytes], cap: int) -> AsyncIterator[bytes]:
    """`chunks` until more than `cap` bytes have passed: then TooLarge."""
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > cap:
            raise TooLarge(f"more than {cap:,} bytes")
        yield chunk


async def _multipart(chunks: AsyncIterator[bytes], boundary: str) -> AsyncIterator[bytes]:
    """One file part around `chunks`, the form Kubo's `add` reads."""
    yield (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="scene"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    async for chunk in chunks:
        yield chunk
    yield f"\r\n--{boundary}--\r\n".encode()


async def add(node: str, chunks: AsyncIterator[bytes]) -> tuple[str, int]:
    """Stream `chunks` into the node, pinned (CIDv0); the CID and its size. TooLarge (from
    `chunks`) propagates with nothing pinned."""
    boundary = secrets.token_hex(16)
    url = f"{node.rstrip('/')}/api/v0/add"
    params = {"pin": "true", "cid-version": "0", "quieter": "true", "progress": "false"}
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    async with httpx.AsyncClient(timeout=TIMEOUT) as client:
        try:
            answer = await client.post(
                url, params=params, headers=headers, content=_multipart(chunks, boundary)
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
