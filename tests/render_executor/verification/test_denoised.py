"""Denoised frames: the render's cost is judged on the noisy pass delivered beside the frame
(a denoised render of half the samples looks like the job's own), with real Blender renders
of the demo scene with Cycles' denoiser on."""

from dataclasses import replace
from pathlib import Path
from random import Random

import numpy as np
import OpenEXR
import pytest

from render_executor.blender.runner import BlenderRunner, RenderJob, RenderResult
from render_executor.passes import read_passes, save_passes
from render_executor.verification.verifier import FrameUnreadable, verify_frame
from tests.render_executor.verification.test_verifier import SAMPLES, SIZE, veriframe_verify
from tests.support import forgeries
from tests.support.blender import with_denoiser
from veriframe_core.verification import draw


@pytest.fixture(scope="module")
def denoised_job(denoised_scene: Path) -> RenderJob:
    return RenderJob(denoised_scene, resolution=SIZE, samples=SAMPLES, device="CPU")


@pytest.fixture(scope="module")
def renders(denoised_job: RenderJob, tmp_path_factory) -> dict[str, RenderResult]:
    """The job rendered honestly (the file's seed) and at half its samples, both denoised,
    each with the noisy pass the agent delivers beside the frame."""
    scratch, runner = tmp_path_factory.mktemp("denoised"), BlenderRunner()
    cheap = replace(denoised_job, samples=SAMPLES // 2)
    return {
        name: runner.render(job, scratch / name)
        for name, job in (("honest", denoised_job), ("half", cheap))
    }


def verify(job: RenderJob, result: RenderResult, scratch: Path, **kwargs):
    drawn = draw(*SIZE, rng=Random(5))
    return verify_frame(
        BlenderRunner(), job, result.frame, drawn.windows, drawn.seeds, scratch, **kwargs
    )


def test_a_denoised_render_keeps_its_passes_and_a_plain_one_has_none(
    denoised_job, renders, tmp_path
):
    passes = read_passes(renders["honest"].noisy)
    assert passes.guided
    for plane in (passes.noisy, passes.albedo, passes.normal):
        assert plane.shape == (SIZE[1], SIZE[0], 3)
    assert 0.99 < float(np.linalg.norm(passes.normal, axis=2).max()) < 1.01  # unit normals
    plain = BlenderRunner().render(replace(denoised_job, denoise=False, samples=1), tmp_path)
    assert renders["half"].noisy is not None
    assert plain.noisy is None


def test_an_honest_denoised_frame_with_its_noisy_pass_is_verified(denoised_job, renders, tmp_path):
    verdict = verify(denoised_job, renders["honest"], tmp_path, noisy=renders["honest"].noisy)
    assert verdict.passed, verdict.reasons
    assert verdict.denoised and len(verdict.noisy_scores) == len(verdict.scores) == 12
    assert verdict.redone and verdict.report().redone
    assert [s.noise_ratio for s in verdict.report().noisy_crops] == [
        s.noise_ratio for s in verdict.noisy_scores
    ]


def test_a_denoised_frame_of_a_transparent_film_is_verified(denoised_job, demo_scene, tmp_path):
    """Its passes carry the coverage: the frame is stored unpremultiplied by it."""
    scene = with_denoiser(demo_scene, tmp_path / "transparent.blend", transparent=True)
    job = replace(denoised_job, blend=scene)
    rendered = BlenderRunner().render(job, tmp_path / "render")
    assert read_passes(rendered.noisy).alpha.min() == 0  # the world is left out
    verdict = verify(job, rendered, tmp_path / "v", noisy=rendered.noisy)
    assert verdict.passed and verdict.redone, verdict.reasons


def test_a_frame_that_is_not_its_passes_denoised_is_rejected(denoised_job, renders, tmp_path):
    """The passes are the honest render's; the frame was edited after the denoiser."""
    redder = tmp_path / "redder.png"
    forgeries.colour_shift(renders["honest"].frame, redder, 2)
    forged = replace(renders["honest"], frame=redder)
    verdict = verify(denoised_job, forged, tmp_path / "red", noisy=renders["honest"].noisy)
    assert not verdict.passed and verdict.redone
    assert any("colours off by +" in r and "passes denoised" in r for r in verdict.reasons)
    assert not any(r.startswith("noisy pass") for r in verdict.reasons)


def test_forged_denoiser_guides_are_rejected(denoised_job, renders, tmp_path):
    """Albedo and normal steer the denoiser: guides of nothing would make another frame."""
    passes = read_passes(renders["honest"].noisy)
    blank = save_passes(
        replace(passes, albedo=np.zeros_like(passes.albedo), normal=np.zeros_like(passes.normal)),
        tmp_path / "blank.exr",
    )
    verdict = verify(denoised_job, renders["honest"], tmp_path / "v", noisy=blank)
    assert not verdict.passed
    assert any(r.startswith("albedo pass: ") for r in verdict.reasons), verdict.reasons
    assert any(r.startswith("normal pass: ") for r in verdict.reasons), verdict.reasons


def test_passes_of_another_blender_are_judged_with_the_denoiser_in_every_crop(
    denoised_job, renders, tmp_path
):
    """Another Blender's OpenImageDenoise may have other weights: its frame is judged
    against crops rendered with this one's denoiser instead of being redone."""
    passes = read_passes(renders["honest"].noisy)
    assert passes.blender_version == renders["honest"].blender_version
    other = save_passes(replace(passes, blender_version="4.2.0"), tmp_path / "other.exr")
    verdict = verify(denoised_job, renders["honest"], tmp_path / "v", noisy=other)
    assert verdict.passed, verdict.reasons
    assert not verdict.redone and len(verdict.noisy_scores) == 12


def test_half_the_samples_denoised_is_rejected_on_its_noisy_pass(denoised_job, renders, tmp_path):
    verdict = verify(denoised_job, renders["half"], tmp_path, noisy=renders["half"].noisy)
    assert not verdict.passed
    assert any(r.startswith("noisy pass: ") and "fewer samples" in r for r in verdict.reasons)


def test_a_denoised_frame_without_its_noisy_pass_is_rejected_unless_only_looked_at(
    denoised_job, renders, tmp_path
):
    verdict = verify(denoised_job, renders["honest"], tmp_path / "required")
    assert not verdict.passed
    assert verdict.reasons == [
        "the scene is denoised and the delivery has no noisy pass (the render before the "
        "denoiser), which is what shows the render's cost"
    ]
    looked_at = verify(denoised_job, renders["honest"], tmp_path / "frame", require_noisy=False)
    assert looked_at.passed and looked_at.denoised and not looked_at.noisy_scores


def test_a_noisy_pass_of_another_size_or_not_an_exr_is_refused(denoised_job, renders, tmp_path):
    small = tmp_path / "small.exr"
    with OpenEXR.File({}, {"RGB": np.zeros((10, 10, 3), np.float16)}) as exr:
        exr.write(str(small))
    verdict = verify(denoised_job, renders["honest"], tmp_path, noisy=small)
    assert not verdict.passed and verdict.reasons == [
        f"the noisy pass is 10×10 pixels; the job asked for {SIZE[0]}×{SIZE[1]}"
    ]
    with pytest.raises(FrameUnreadable, match="does not decode as OpenEXR"):
        verify(denoised_job, renders["honest"], tmp_path, noisy=renders["honest"].frame)


def test_veriframe_verify_checks_the_noisy_pass_when_given(denoised_scene, renders):
    def command(name: str, *noisy: str):
        found = veriframe_verify(
            denoised_scene, renders[name].frame, *noisy, "--samples", SAMPLES, "--device", "CPU"
        )
        return found.returncode, found.stdout + found.stderr

    code, said = command("half", "--noisy", renders["half"].noisy)
    assert code == 1 and "- noisy pass: " in said and "fewer samples" in said, said
    code, said = command("honest")
    assert code == 0, said
    assert "without its noisy pass (--noisy) the cost is not checked" in said
