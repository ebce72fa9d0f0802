"""CIDv0 of a file as `ipfs add` makes it, computed here from the UnixFS and dag-pb
specifications (not by Kubo): chunks of 256 KiB, a balanced DAG, sha2-256, base58btc."""

from __future__ import annotations

from multiformats import CID, multihash

CHUNK = 262_144
LINKS_PER_NODE = 174  # Kubo's balanced layout: at most 174 links per node


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, value: bytes | int) -> bytes:
    if isinstance(value, int):
        return _varint(number << 3) + _varint(value)
    return _varint(number << 3 | 2) + _varint(len(value)) + value


def _unixfs_file(data: bytes | None, filesize: int, blocksizes: list[int]) -> bytes:
    message = _field(1, 2)  # Type = File
    if data:
        message += _field(2, data)
    message += _field(3, filesize)
    for size in blocksizes:
        message += _field(4, size)
    return message


def _node(links: list[tuple[bytes, int]], data: bytes) -> bytes:
    """A dag-pb PBNode: its links (hash, cumulative size; empty names), then its data."""
    encoded = b""
    for digest, tsize in links:
        link = _field(1, digest) + _field(2, b"") + _field(3, tsize)
        encoded += _field(2, link)
    return encoded + _field(1, data)


def cid_v0(content: bytes) -> str:
    """The CIDv0 Kubo 0.22's `ipfs add` (default options) gives `content`."""
    chunks = [content[i : i + CHUNK] for i in range(0, len(content), CHUNK)] or [b""]
    # leaves: (multihash, serialized size, file bytes below)
    level = []
    for chunk in chunks:
        block = _node([], _unixfs_file(chunk, len(chunk), []))
        level.append((multihash.digest(block, "sha2-256"), len(block), len(chunk)))
    if len(level) > 1:
        while len(level) > 1:
            parents = []
            for i in range(0, len(level), LINKS_PER_NODE):
                group = level[i : i + LINKS_PER_NODE]
                sizes = [below for _, _, below in group]
                data = _unixfs_file(None, sum(sizes), sizes)
                block = _node([(bytes(h), tsize) for h, tsize, _ in group], data)
                tsize = len(block) + sum(t for _, t, _ in group)
                parents.append((multihash.digest(block, "sha2-256"), tsize, sum(sizes)))
            level = parents
    digest = level[0][0]
    return str(CID("base58btc", 0, "dag-pb", digest))
