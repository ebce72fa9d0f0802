"""The libraries a `.blend` links from disk, read from its bytes without Blender.

Blender loads every linked library while it opens a file, before any script could look at
it, so a library outside the job's folder has to be refused before Blender starts: its
path is read here from the file's `LI` blocks, laid out by the file's own DNA (struct
`Library`, member `filepath`, `name` before Blender 3.0). Libraries inside the folder are
read in turn, since a library links libraries of its own when it loads.
"""

from __future__ import annotations

import gzip
import io
import os
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
GZIP_MAGIC = b"\x1f\x8b"
CHUNK = 1 << 20
MAX_READ = 64 << 20
"""Bytes at most of a block read whole (`LI`, `DNA1`: kilobytes in any file Blender wrote)."""


class NotABlend(ValueError):
    """The bytes are not a `.blend` this reader can read (so its libraries are unknown)."""


@contextmanager
def _raw(path: Path) -> Iterator[IO[bytes]]:
    """The file's uncompressed bytes (Blender saves zstd, older versions gzip)."""
    with path.open("rb") as handle:
        head = handle.read(4)
        handle.seek(0)
        if head.startswith(ZSTD_MAGIC):
            import zstandard  # the bpy wheel's dependency, as Blender's own reader uses it

            reader = zstandard.ZstdDecompressor().stream_reader(handle, read_across_frames=True)
            with io.BufferedReader(reader) as stream:  # reads of n bytes give n bytes
                yield stream
        elif head.startswith(GZIP_MAGIC):
            with gzip.GzipFile(fileobj=handle) as stream:
                yield stream
        else:
            yield handle


def _read(stream: IO[bytes], size: int) -> bytes:
    if size > MAX_READ:
        raise NotABlend(f"a block of {size:,} bytes where a few kilobytes are expected")
    data = stream.read(size)
    if len(data) != size:
        raise NotABlend("the file ends inside a block")
    return data


def _skip(stream: IO[bytes], size: int) -> None:
    if stream.seekable():
        stream.seek(size, os.SEEK_CUR)
        return
    while size > 0:
        size -= len(_read(stream, min(size, CHUNK)))


def _block_header(stream: IO[bytes]) -> tuple[struct.Struct, int]:
    """The file's block header layout (code, length, SDNA index, in that struct's order)
    and its pointer size, from the file header: the 12-byte one of Blender 4 and before, or
    the 17-byte one of Blender 5 (`BLENDER17-01v0500`, 64-bit block lengths)."""
    head = _read(stream, 12)
    if not head.startswith(b"BLENDER"):
        raise NotABlend("not a Blender file")
    if head[7:8] in (b"_", b"-"):
        pointer = 4 if head[7:8] == b"_" else 8
        endian = "<" if head[8:9] == b"v" else ">"
        return struct.Struct(f"{endian}4si{'I' if pointer == 4 else 'Q'}ii"), pointer
    if head[7:12] != b"17-01":
        raise NotABlend(f"unknown file header {head!r}")
    _read(stream, 5)  # "v" and the version
    return struct.Struct("<4siQqq"), 8


def _blocks(stream: IO[bytes], layout: struct.Struct) -> Iterator[tuple[bytes, int, int]]:
    """Each block's code, SDNA index and length, the stream left at its data."""
    large = layout.format.endswith("qq")
    while len(data := stream.read(layout.size)) == layout.size:
        fields = layout.unpack(data)
        code = fields[0].rstrip(b"\0")
        if code == b"ENDB":
            return
        sdna, length = (fields[1], fields[3]) if large else (fields[3], fields[1])
        if length < 0:
            raise NotABlend(f"a {code!r} block of {length} bytes")
        yield code, sdna, length


def _strings(data: bytes, count: int, at: int) -> tuple[list[str], int]:
    names = []
    for _ in range(count):
        end = data.index(b"\0", at)
        names.append(data[at:end].decode("latin-1"))
        at = end + 1
    return names, (at + 3) & ~3


def _library_fields(dna: bytes, pointer: int, endian: str) -> dict[int, dict[str, tuple]]:
    """Offset and size of each member of the structs named `Library` (one, in any file
    Blender wrote), by their SDNA index."""
    int32, int16 = struct.Struct(endian + "i"), struct.Struct(endian + "h")
    names, at = _strings(dna, int32.unpack_from(dna, 8)[0], 12)
    types, at = _strings(dna, int32.unpack_from(dna, at + 4)[0], at + 8)
    lengths = [int16.unpack_from(dna, at + 4 + 2 * i)[0] for i in range(len(types))]
    at = (at + 4 + 2 * len(types) + 3) & ~3
    found: dict[int, dict[str, tuple]] = {}
    at += 8  # "STRC" and the count
    for index in range(int32.unpack_from(dna, at - 4)[0]):
        kind, count = int16.unpack_from(dna, at)[0], int16.unpack_from(dna, at + 2)[0]
        members = [struct.unpack_from(endian + "hh", dna, at + 4 + 4 * i) for i in range(count)]
        at += 4 + 4 * count
        if types[kind] != "Library":
            continue
        offsets, offset = {}, 0
        for member_type, member_name in members:
            name = names[member_name]
            size = pointer if name.startswith(("*", "(*")) else lengths[member_type]
            for dim in name.split("[")[1:]:
                size *= int(dim.rstrip("]"))
            offsets[name.split("[")[0]] = (offset, size)
            offset += size
        found[index] = offsets
    return found


def linked_libraries(path: Path) -> list[str]:
    """The paths of the libraries the `.blend` at `path` links and has not packed, as
    written (`//` relative); NotABlend when it cannot be read, however its bytes fail (they
    are the creator's)."""
    try:
        return _linked_libraries(path)
    except NotABlend:
        raise
    except Exception as err:  # corrupt bytes fail in struct, zstd, gzip, indexing, decoding
        raise NotABlend(f"{path.name} cannot be read: {err!r}") from None


def _linked_libraries(path: Path) -> list[str]:
    with _raw(path) as stream:
        layout, pointer = _block_header(stream)
        endian = layout.format[0]
        libraries, fields = [], {}
        for code, sdna, length in _blocks(stream, layout):
            if code == b"LI":
                libraries.append((sdna, _read(stream, length)))
            elif code == b"DNA1":
                fields = _library_fields(_read(stream, length), pointer, endian)
            else:
                _skip(stream, length)
    if not fields:  # no DNA: Blender cannot read the file, and loads nothing it links
        return []
    paths = []
    for sdna, data in libraries:
        members = fields[sdna]
        packed = members.get("*packedfile")
        if packed and any(data[packed[0] : packed[0] + packed[1]]):
            continue  # packed into the file: Blender reads it from there, not from its path
        offset, size = members.get("name") or members["filepath"]
        raw = data[offset : offset + size].split(b"\0", 1)[0]
        paths.append(raw.decode("utf-8", errors="surrogateescape"))
    return paths


def resolve(raw: str, blend: Path, cwd: Path) -> Path:
    """Where Blender reads `raw` from when `blend` refers to it: `//` is the file's folder;
    any other relative path is the working directory's."""
    if raw.startswith("//"):
        return Path(os.path.realpath(blend.parent / raw[2:]))
    return Path(os.path.realpath(cwd / raw))


def outside_libraries(blend: Path, folder: Path, cwd: Path) -> list[str]:
    """The libraries `blend` links, directly or through its libraries, that are not inside
    `folder` (as written in the file that links them)."""
    root = Path(os.path.realpath(folder))
    outside: list[str] = []
    seen: set[Path] = set()
    pending = [Path(os.path.realpath(blend))]
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        for raw in linked_libraries(current):
            target = resolve(raw, current, cwd)
            if not target.is_relative_to(root):
                outside.append(raw)
            elif target.is_file():
                pending.append(target)
    return outside
