"""A worker's files stay its own: a scene reads files from its job's folder only. Scenes that
read an image, a library, a volume, a point cache or a geometry-node import from elsewhere
on the worker's disk, or a file path computed while rendering, are refused with
the paths named, by the render, the verifier's crops and `describe` alike, and no frame is
written; what Blender reads while it opens the file is fenced off by the kernel; a scene
whose files are all in its folder renders them. Real Blender (bpy), 32×32
frames at one sample."""

from __future__ import annotations

import os
import time
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from render_executor.archives import unpack
from render_executor.blender import fence
from render_executor.blender.runner import (
    BlenderRunner,
    CropRender,
    RenderFailed,
    RenderJob,
    RenderLimits,
)
from veriframe_core.verification import Window

runner = BlenderRunner()
GREEN, MAGENTA = (0, 255, 0), (255, 0, 255)


def tiny(blend: Path, folder: Path) -> RenderJob:
    return RenderJob(blend, folder=folder, resolution=(32, 32), samples=1, threads=1)


def scene_job(scenes: Path, name: str) -> RenderJob:
    """`tiny` for the scene `name` of `outside_scenes`, its folder the job's."""
    return tiny(scenes / "job" / f"{name}.blend", scenes / "job")


def looks(frame: Path) -> tuple[int, int, int]:
    """The plane's colour: GREEN or MAGENTA when every pixel inside the frame's edges (where
    the plane's edge is filtered with the background) is within 32 of it."""
    with Image.open(frame) as image:
        pixels = image.convert("RGB").crop((4, 4, 28, 28)).getdata()
        for colour in (GREEN, MAGENTA):
            if all(max(abs(a - b) for a, b in zip(p, colour, strict=True)) <= 32 for p in pixels):
                return colour
    raise AssertionError(f"{frame} is neither all green nor all magenta")


def test_a_scene_with_its_texture_in_its_archive_renders_it(
    outside_scenes: Path, tmp_path: Path
) -> None:
    archive = tmp_path / "asset"
    with zipfile.ZipFile(archive, "w") as out:
        out.write(outside_scenes / "job" / "clean.blend", "shot/clean.blend")
        out.write(outside_scenes / "job" / "tex" / "inside.png", "shot/tex/inside.png")
    folder = tmp_path / "unpacked"
    result = runner.render(tiny(unpack(archive, folder), folder), tmp_path / "scratch")
    assert looks(result.frame) == GREEN


def test_the_scenes_own_file_outputs_write_nothing(outside_scenes: Path, tmp_path: Path) -> None:
    scratch = tmp_path / "scratch"
    result = runner.render(scene_job(outside_scenes, "output"), scratch)
    assert looks(result.frame) == GREEN
    assert not (outside_scenes / "outside" / "written").exists()
    written = {"blender.log", "frame.png", "render-spec.json", "render.json"}
    if result.noisy:  # Blender's default scene denoises: the pass kept for verification
        written |= {"passes.exr", "noisy.exr"}
    assert {p.name for p in scratch.iterdir() if p.is_file()} == written


@pytest.mark.parametrize(
    ("scene", "named"),
    [
        ("image", "{outside}/secret.png (Image 'secret.png')"),
        ("relative", "//../outside/secret.png (Image 'secret.png')"),
        ("volume", "{outside}/smoke.vdb (Volume 'smoke')"),
        ("udim", "{outside}/tiles.<UDIM>.png (Image 'tiles')"),
        ("cache", "{outside}/cache (Object 'plane')"),
        ("import", "{outside}/mesh.obj (GeometryNodeTree 'import')"),
        ("computed", "a computed file path (node 'Import OBJ' in 'import')"),
    ],
)
def test_a_scene_reading_a_file_outside_its_folder_is_refused_with_the_path(
    outside_scenes: Path, tmp_path: Path, scene: str, named: str
) -> None:
    scratch = tmp_path / "scratch"
    with pytest.raises(RenderFailed) as failure:
        runner.render(scene_job(outside_scenes, scene), scratch)
    reason = failure.value.reason
    assert reason.startswith("the scene refers to files outside the job's folder")
    assert named.format(outside=outside_scenes / "outside") in reason
    assert not list(scratch.glob("frame*")), "no frame is written"


def test_the_same_image_renders_when_the_worker_trusts_the_whole_disk(
    outside_scenes: Path, tmp_path: Path
) -> None:
    """The control: with the disk's root as the job's folder, the outside image is what the
    frame shows, so the refusal above is what keeps its pixels out of the frame."""
    job = tiny(outside_scenes / "job" / "image.blend", Path("/"))
    assert looks(runner.render(job, tmp_path / "scratch").frame) == MAGENTA


def test_an_outside_file_blender_reads_while_opening_is_fenced_off(
    outside_scenes: Path, tmp_path: Path
) -> None:
    """Blender evaluates a volume while it opens the file, before the check: the kernel's
    fence denies the read (unfenced, the fifo hangs the open until the time limit:
    measured, 20 s of a 20 s limit), and the check then names the path."""
    if fence.build([], []) is None:
        pytest.skip("this kernel has no Landlock: nothing is fenced")
    fifo = outside_scenes / "outside" / "smoke.vdb"
    os.mkfifo(fifo)
    try:
        started = time.monotonic()
        with pytest.raises(RenderFailed, match=r"outside the job's folder.*smoke\.vdb"):
            job = scene_job(outside_scenes, "volume")
            runner.render(job, tmp_path / "scratch", RenderLimits(timeout_s=60))
        assert time.monotonic() - started < 30
    finally:
        fifo.unlink()


def test_a_library_outside_the_folder_is_refused_before_blender_starts(
    outside_scenes: Path, tmp_path: Path
) -> None:
    scratch = tmp_path / "scratch"
    with pytest.raises(RenderFailed) as failure:
        runner.render(scene_job(outside_scenes, "library"), scratch)
    assert failure.value.reason == (
        "the scene links libraries outside the job's folder, which a worker does not load "
        "(put them in its archive): //../outside/lib.blend"
    )
    assert not (scratch / "blender.log").exists(), "Blender never ran"


def test_a_packed_library_is_read_from_the_file_but_not_its_outside_image(
    outside_scenes: Path, tmp_path: Path
) -> None:
    with pytest.raises(RenderFailed) as failure:
        runner.render(scene_job(outside_scenes, "packed"), tmp_path / "s")
    assert failure.value.reason.endswith(
        "in its archive): "
        + str(outside_scenes / "outside" / "secret.png")
        + " (Image 'secret.png')"
    )


def test_the_verifiers_crops_and_describe_apply_the_same_rule(
    outside_scenes: Path, tmp_path: Path
) -> None:
    image = outside_scenes / "job" / "image.blend"
    crop = CropRender(Window(x=0, y=0, width=8, height=8), seed=1)
    with pytest.raises(RenderFailed, match=r"outside the job's folder.*secret\.png"):
        runner.render_crops(scene_job(outside_scenes, "image"), [crop], tmp_path / "crops")
    with pytest.raises(RenderFailed, match=r"outside the job's folder.*secret\.png"):
        runner.describe(image, tmp_path / "describe")
    library = outside_scenes / "job" / "library.blend"
    with pytest.raises(RenderFailed, match="libraries outside the job's folder"):
        runner.describe(library, tmp_path / "describe-library")
