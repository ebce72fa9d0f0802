"""A creator's scene before it goes up: packed as a worker will receive it (a folder becomes
a zip), unpacked and read the way a worker will read it (`render_executor.archives.unpack`,
`BlenderRunner.describe`), so a file no worker could render is refused here, with the reason,
and the scene's own frame, resolution, samples and engine become the job's defaults."""

from __future__ import annotations

import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from veriframe.exits import BadInput
from veriframe_core.distribution import MissingExtra, requires_extra


@dataclass(frozen=True)
class SceneDefaults:
    """What a scene renders when nobody says otherwise."""

    frame: int
    resolution: tuple[int, int]
    samples: int
    engine: str


@contextmanager
def packed(path: Path) -> Iterator[Path]:
    """The file to upload for `path`: a `.blend` or an archive as it is; a folder as a zip of
    its files (paths relative to it, no links followed) in a temporary file."""
    if path.is_file():
        yield path
        return
    if not path.is_dir():
        raise BadInput(f"{path}: no such file or folder")
    files = sorted(p for p in path.rglob("*") if p.is_file() and not p.is_symlink())
    if not any(p.suffix == ".blend" for p in files):
        raise BadInput(f"{path}: the folder holds no .blend file")
    with tempfile.TemporaryDirectory(prefix="veriframe-pack-") as scratch:
        archive_path = Path(scratch) / f"{path.name or 'scene'}.zip"
        with zipfile.ZipFile(archive_path, "w", zipfile.ZIP_DEFLATED) as archive:
            for file in files:
                archive.write(file, file.relative_to(path).as_posix())
        yield archive_path


def read_defaults(upload: Path) -> SceneDefaults | None:
    """The scene's own settings, read from `upload` (a `.blend` or an archive) as a worker
    reads it; BadInput when a worker would refuse it; None when this machine has no Blender
    (the worker extra) to read it with."""
    try:
        with requires_extra("worker", "reading the scene's settings", "give them as options"):
            from render_executor.archives import UnsafeArchive, unpack
            from render_executor.blender.runner import BlenderRunner, RenderFailed
    except MissingExtra:
        return None
    with tempfile.TemporaryDirectory(prefix="veriframe-scene-") as scratch:
        copy = Path(scratch) / "asset"
        try:  # unpack moves a plain .blend into its folder: move a link, not the file
            os.link(upload, copy)
        except OSError:
            shutil.copyfile(upload, copy)
        try:
            blend = unpack(copy, Path(scratch) / "job")
            scene = BlenderRunner().describe(blend, Path(scratch) / "describe")
        except UnsafeArchive as err:
            raise BadInput(f"{upload}: {err}") from None
        except RenderFailed as err:
            raise BadInput(f"{upload}: no worker can render it: {err.reason}") from None
    if not scene.has_camera:
        raise BadInput(f"{upload}: the scene has no camera")
    return SceneDefaults(scene.frame, scene.resolution, scene.samples or 1, scene.engine)
