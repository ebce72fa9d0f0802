"""A job's scene on this machine: downloaded from IPFS within the cap, unpacked safely
(`archives.unpack`), and what Blender is asked to render of it. The render agent renders it
and the verifier re-renders crops of it: both fetch it here, so both see the same file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from render_executor.archives import ArchiveLimits, UnsafeArchive, unpack
from render_executor.blender.runner import RenderJob
from veriframe_core.ipfs import IpfsClient, IpfsError
from veriframe_core.protocol import RenderSettings


class SceneUnavailable(Exception):
    """The scene could not be fetched or was refused; the message says which and why."""


@dataclass(frozen=True)
class Scene:
    """A job's scene on this machine."""

    blend: Path
    folder: Path  # where it was unpacked: the only folder Blender may read its files from
    size: int  # bytes of the asset as downloaded


def fetch_scene(ipfs: IpfsClient, cid: str | None, scratch: Path, limits: ArchiveLimits) -> Scene:
    """The scene of the asset `cid`, fetched and unpacked into `scratch`."""
    if not cid:
        raise SceneUnavailable("the job's asset CID cannot be read from the chain")
    asset = scratch / "asset"
    try:
        size = ipfs.download(cid, asset)
    except IpfsError as err:
        raise SceneUnavailable(f"downloading the asset {cid} failed: {err}") from None
    folder = scratch / "unpacked"
    try:
        return Scene(unpack(asset, folder, limits), folder, size)
    except UnsafeArchive as err:
        raise SceneUnavailable(f"the asset was refused: {err}") from None


def render_job(scene: Scene, wanted: RenderSettings, device: str) -> RenderJob:
    """What Blender renders of `scene`: the job's settings (never the file's), on `device`,
    reading files from the scene's folder only."""
    return RenderJob(
        scene.blend,
        folder=scene.folder,
        frame=wanted.frame,
        resolution=(wanted.resolution_x, wanted.resolution_y),
        samples=wanted.samples,
        engine=wanted.engine,
        output_format=wanted.output_format,
        device=device,
    )
