"""Verifying real frames of the demo scene by re-rendering crops with Blender, and
`veriframe verify` as a creator runs it."""

import json
import subprocess
import sys
from pathlib import Path
from random import Random

import pytest
from PIL import Image

from render_executor.blender.runner import BlenderRunner, RenderJob
from render_executor.verification.compare import judge
from render_executor.verification.verifier import FrameUnreadable, verify_frame
from veriframe_core.verification import Window, draw

SIZE = (320, 240)
SAMPLES = 16


@pytest.fixture(scope="module")
def frames(demo_scene: Path, tmp_path_factory) -> dict[str, Path]:
    """Honest frames of the demo scene (the file's seed, all threads and one), one rendered
    at 1 sample, and image forgeries of the honest one."""
    runner, scratch = BlenderRunner(), tmp_path_factory.mktemp("frames")
    made = {}
    for name, samples, threads in (
        ("honest", SAMPLES, None),
        ("honest_one_thread", SAMPLES, 1),
        ("one_sample", 1, None),
    ):
        job = RenderJob(demo_scene, resolution=SIZE, samples=samples, device="CPU", threads=threads)
        made[name] = runner.render(job, scratch / name).frame
    with Image.open(made["honest"]) as honest:
        Image.new("RGBA", SIZE, (128, 128, 128, 255)).save(scratch / "flat.png")
        honest.transform(SIZE, Image.AFFINE, (1, 0, 10, 0, 1, 0)).save(scratch / "shifted.png")
        honest.resize((160, 120)).save(scratch / "half_size.png")
    made.update({n: scratch / f"{n}.png" for n in ("flat", "shifted", "half_size")})
    return made


@pytest.fixture
def job(demo_scene: Path) -> RenderJob:
    return RenderJob(demo_scene, resolution=SIZE, samples=SAMPLES, device="CPU")


def verify(job, frame, tmp_path, seed=3):
    drawn = draw(*SIZE, rng=Random(seed))
    return verify_frame(BlenderRunner(), job, frame, drawn.windows, drawn.seeds, tmp_path)


@pytest.mark.parametrize("honest", ["honest", "honest_one_thread"])
def test_an_honest_frame_rendered_at_another_seed_is_verified(job, frames, honest, tmp_path):
    verdict = verify(job, frames[honest], tmp_path)
    assert verdict.passed, verdict.reasons
    assert len(verdict.windows) == len(verdict.guided) == 6  # drawn, placed by the verifier
    assert len(verdict.scores) == 12
    assert not any(overlap(g, w) for g in verdict.guided for w in verdict.windows)
    assert verdict.cpu_seconds > 0 and verdict.blender_version
    with Image.open(verdict.comparison) as sheet:  # each crop beside the verifier's, ×2
        assert sheet.size == (2 * 64 + 4, 12 * (64 + 4))


def overlap(a: Window, b: Window) -> bool:
    return (
        a.x < b.x + b.width
        and b.x < a.x + a.width
        and a.y < b.y + b.height
        and b.y < a.y + a.height
    )


def test_a_local_change_the_drawn_windows_miss_is_found_by_the_guided_ones(job, frames, tmp_path):
    """Another frame of a nearly static shot differs in one place: the verifier's preview
    of the whole frame shows where, and its own windows go there."""
    drawn = draw(*SIZE, rng=Random(3))
    patch = next(  # a 48-px square no drawn window touches
        Window(x=x, y=y, width=48, height=48)
        for y in range(0, SIZE[1] - 48, 8)
        for x in range(0, SIZE[0] - 48, 8)
        if not any(overlap(Window(x=x, y=y, width=48, height=48), w) for w in drawn.windows)
    )
    box = (patch.x, patch.y, patch.x + 48, patch.y + 48)
    with Image.open(frames["honest"]) as honest, Image.open(frames["shifted"]) as shifted:
        honest.paste(shifted.crop(box), box[:2])
        honest.save(tmp_path / "local.png")
    verdict = verify(job, tmp_path / "local.png", tmp_path / "verify")
    assert not verdict.passed
    assert any(overlap(patch, g) for g in verdict.guided)
    assert judge(verdict.scores[: len(drawn.windows)]).passed  # the drawn ones alone: missed


@pytest.mark.parametrize("forgery", ["one_sample", "flat", "shifted"])
def test_forgeries_are_rejected_with_reasons(job, frames, forgery, tmp_path):
    verdict = verify(job, frames[forgery], tmp_path)
    assert not verdict.passed
    assert verdict.reasons


def test_a_frame_of_another_size_is_rejected_without_rendering(job, frames, tmp_path):
    verdict = verify(job, frames["half_size"], tmp_path)
    assert not verdict.passed
    assert "160×120" in verdict.reasons[0] and not verdict.scores
    assert not any(tmp_path.iterdir())


def test_verifying_the_same_delivery_again_gives_the_same_scores(job, frames, tmp_path):
    first = verify(job, frames["one_sample"], tmp_path / "first")
    again = verify(job, frames["one_sample"], tmp_path / "again")
    assert first.scores == again.scores
    assert first.reasons == again.reasons


def test_a_delivery_that_is_not_an_image_is_unreadable(job, demo_scene, tmp_path):
    with pytest.raises(FrameUnreadable, match="does not decode"):
        verify(job, demo_scene, tmp_path)


def veriframe_verify(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "veriframe.cli", "verify", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_command_exits_0_when_verified_1_when_rejected(demo_scene, frames, tmp_path):
    sheet = tmp_path / "comparison.png"
    verified = veriframe_verify(demo_scene, frames["honest"])
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert verified.stdout.startswith("VERIFIED: 12 crops")
    rejected = veriframe_verify(  # windows drawn at random: a forgery that shows anywhere
        demo_scene, frames["flat"], "--crops", "4", "--json", "--comparison", sheet
    )
    assert rejected.returncode == 1, rejected.stdout + rejected.stderr
    report = json.loads(rejected.stdout)
    assert report["verdict"] == "rejected" and report["reasons"]
    assert len(report["windows"]) + len(report["guided"]) == len(report["crops"]) == 4
    assert {"noise_ratio", "noise_z", "bias_z", "noise_level"} <= set(report["crops"][0])
    with Image.open(sheet) as image:
        assert image.height == 4 * (64 + 4)


def test_the_command_exits_2_on_bad_input(demo_scene, frames, tmp_path):
    cases = {
        "is not a file": (tmp_path / "missing.blend", frames["honest"]),
        "does not decode as an image": (demo_scene, demo_scene),
        "does not open as a Blender scene": (frames["honest"], frames["honest"]),
    }
    for message, (scene, frame) in cases.items():
        result = veriframe_verify(scene, frame)
        assert result.returncode == 2, result.stdout + result.stderr
        assert message in result.stderr and "Traceback" not in result.stderr
