"""A job's asset, unpacked safely: a `.blend`, or a zip or tar archive holding one with the
textures and caches it needs.

An archive is untrusted. Every member is checked before anything is written: no absolute
path, no `..`, no link of either kind, no device, fifo or other special file, at most
`max_members` members. While extracting, the bytes actually written are counted (headers
may lie): past `max_total_bytes`, or past `max_ratio` times the archive's own size (a
decompression bomb), extraction stops and everything it wrote is removed.
"""

from __future__ import annotations

import shutil
import stat
import tarfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

CHUNK = 1 << 20
BLEND_MAGIC = b"BLENDER"
COMPRESSED_BLEND_MAGIC = (b"\x28\xb5\x2f\xfd", b"\x1f\x8b")  # zstd (Blender 3+), gzip (older)


class UnsafeArchive(ValueError):
    """The asset is refused; the message says which member and why."""


@dataclass(frozen=True)
class ArchiveLimits:
    max_total_bytes: int = 8 * 1024**3
    max_ratio: float = 200.0
    max_members: int = 10_000


@dataclass(frozen=True)
class _Member:
    name: PurePosixPath
    is_dir: bool
    open: object  # () -> binary stream of its content (files only)


def _safe_name(raw: str) -> PurePosixPath:
    name = raw.replace("\\", "/")
    path = PurePosixPath(name)
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise UnsafeArchive(f"{raw!r}: absolute paths are not allowed")
    if ".." in path.parts:
        raise UnsafeArchive(f"{raw!r}: '..' is not allowed in a path")
    if not path.parts or path.parts == (".",):
        raise UnsafeArchive(f"{raw!r}: empty member name")
    return path


def _zip_members(archive: zipfile.ZipFile) -> Iterator[_Member]:
    for info in archive.infolist():
        kind = stat.S_IFMT(info.external_attr >> 16)  # 0: no Unix type recorded
        if kind == stat.S_IFLNK:
            raise UnsafeArchive(f"{info.filename!r}: links are not allowed")
        if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
            raise UnsafeArchive(f"{info.filename!r}: special files are not allowed")
        if info.flag_bits & 0x1:
            raise UnsafeArchive(f"{info.filename!r}: encrypted members are not supported")
        yield _Member(_safe_name(info.filename), info.is_dir(), lambda i=info: archive.open(i))


def _tar_members(archive: tarfile.TarFile) -> Iterator[_Member]:
    for info in archive.getmembers():
        if info.issym() or info.islnk():
            raise UnsafeArchive(f"{info.name!r}: links are not allowed")
        if not (info.isfile() or info.isdir()):
            raise UnsafeArchive(f"{info.name!r}: special files are not allowed")
        yield _Member(_safe_name(info.name), info.isdir(), lambda i=info: archive.extractfile(i))


@contextmanager
def _members(path: Path) -> Iterator[list[_Member]]:
    """The members of a zip or tar archive, each checked."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            yield list(_zip_members(archive))
        return
    try:
        with tarfile.open(path) as archive:
            yield list(_tar_members(archive))
    except tarfile.TarError as err:
        raise UnsafeArchive(f"the archive does not read: {err}") from None


def is_blend(path: Path) -> bool:
    """A `.blend` by its first bytes (plain, or compressed as Blender saves it)."""
    with path.open("rb") as handle:
        head = handle.read(8)
    return head.startswith(BLEND_MAGIC) or head.startswith(COMPRESSED_BLEND_MAGIC)


def unpack(asset: Path, dest: Path, limits: ArchiveLimits = ArchiveLimits()) -> Path:
    """The `.blend` to render from `asset`, in `dest` (which must not exist): the file
    itself moved there, or the one `.blend` at the shallowest level of the archive,
    extracted there. `dest` is the job's folder, the only one its scene may read from."""
    archive = zipfile.is_zipfile(asset) or tarfile.is_tarfile(asset)
    if not (archive or is_blend(asset)):
        raise UnsafeArchive("neither a Blender file nor a zip or tar archive")
    dest.mkdir(parents=True)
    if not archive:
        return asset.rename(dest / "scene.blend")
    try:
        with _members(asset) as members:
            if len(members) > limits.max_members:
                raise UnsafeArchive(f"{len(members):,} members: at most {limits.max_members:,}")
            _extract(members, dest, _budget(asset, limits))
        return _find_blend(dest)
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise


def _budget(asset: Path, limits: ArchiveLimits) -> int:
    return int(min(limits.max_total_bytes, limits.max_ratio * max(asset.stat().st_size, 1)))


def _extract(members: list[_Member], dest: Path, budget: int) -> None:
    written = 0
    root = dest.resolve()
    for member in members:
        target = root.joinpath(*member.name.parts)
        if root not in target.parents and target != root:
            raise UnsafeArchive(f"{member.name}: leaves the destination")
        if member.is_dir:
            target.mkdir(parents=True, exist_ok=True)
            continue
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            out = target.open("xb")
        except OSError as err:  # a duplicate name, a file where a folder should be
            raise UnsafeArchive(f"{member.name}: cannot be written ({err.strerror})") from None
        source: IO[bytes] = member.open()
        with source, out:
            while chunk := source.read(CHUNK):
                written += len(chunk)
                if written > budget:
                    raise UnsafeArchive(
                        f"unpacks to more than {budget:,} bytes (a decompression bomb, or an "
                        "asset over the size limit)"
                    )
                out.write(chunk)


def _find_blend(root: Path) -> Path:
    blends = sorted(root.rglob("*.blend"), key=lambda p: (len(p.relative_to(root).parts), p))
    if not blends:
        raise UnsafeArchive("the archive holds no .blend file")
    top = [p for p in blends if len(p.parts) == len(blends[0].parts)]
    if len(top) > 1:
        names = ", ".join(str(p.relative_to(root)) for p in top)
        raise UnsafeArchive(f"the archive holds several .blend files at its top level: {names}")
    if not is_blend(top[0]):
        raise UnsafeArchive(f"{top[0].relative_to(root)} is not a Blender file")
    return top[0]
