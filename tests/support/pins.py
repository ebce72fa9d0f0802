"""What a node has pinned, asked as an operator would: Kubo's `pin ls`."""

from __future__ import annotations

import httpx


def pinned(api: str, cid: str) -> bool:
    """Whether the node at `api` (its RPC URL) has a recursive pin of `cid`."""
    answer = httpx.post(f"{api}/api/v0/pin/ls", params={"arg": cid, "type": "recursive"})
    if answer.status_code == 500 and "is not pinned" in answer.json()["Message"]:
        return False
    answer.raise_for_status()
    return cid in answer.json()["Keys"]
