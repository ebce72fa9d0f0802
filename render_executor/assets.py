"""A job's scene on this machine: downloaded from IPFS within the cap, unpacked safely
(`archives.unpack`), and what Blender is asked to render of it. The render agent renders it
and the verifier re-renders crops of it: both fetch it here, so both see the same file."""

from __future__ import annotations

from pathlib import Path

from render_executor.archives import ArchiveLimits, UnsafeArchive, unpack
from render_executor.blender.runner import RenderJob
from veriframe_core.ipfs import IpfsClient, IpfsError
from veriframe_core.protocol import RenderSettings


class SceneUnavailable(Exception):
    """The scene could not be fetched or was refused; the message says which and why."""


def fetch_scene(
    ipfs: IpfsClient, cid: str | None, scratch: Path, limits: ArchiveLimits
) -> tuple[Path, int]:
    """The `.blend` to render from the asset `cid`, fetched into `scratch`, and the asset's
    size in bytes."""
    if not cid:
        raise SceneUnavailable("the job's asset CID cannot be read from the chain")
    asset = scratch / "asset"
    try:
        size = ipfs.download(cid, asset)
    except IpfsError as err:
        raise SceneUnavailable(f"downloading the asset {cid} failed: {err}") from None
    try:
        return unpack(asset, scratch / "unpacked", limits), size
    except UnsafeArchive as err:
        raise SceneUnavailable(f"the asset was refused: {err}") from None


def render_job(
    blend: Path, wanted: RenderSettings, device: str, output_format: str | None = None
) -> RenderJob:
    """What Blender renders of `blend`: the job's settings (never the file's), on `device`."""
    return RenderJob(
        blend,
        frame=wanted.frame,
        resolution=(wanted.resolution_x, wanted.resolution_y),
        samples=wanted.samples,
        engine=wanted.engine,
        output_format=output_format or wanted.output_format,
        device=device,
    )
