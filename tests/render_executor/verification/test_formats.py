"""Every output format a job may ask for is verified: honest frames pass, half the samples
does not, and a frame of another format than the job's is rejected without rendering (real
Blender renders of the demo scene)."""

from dataclasses import replace
from pathlib import Path
from random import Random

import pytest

from render_executor.blender.runner import BlenderRunner, RenderJob
from render_executor.verification.verifier import verify_frame
from tests.render_executor.verification.test_verifier import SAMPLES, SIZE
from veriframe_core.frames import check_frame
from veriframe_core.verification import draw

FORMATS = ("JPEG", "OPEN_EXR", "OPEN_EXR_MULTILAYER", "TIFF")


def verify(job: RenderJob, frame: Path, scratch: Path):
    drawn = draw(*SIZE, rng=Random(7))
    return verify_frame(BlenderRunner(), job, frame, drawn.windows, drawn.seeds, scratch)


@pytest.mark.parametrize("output_format", FORMATS)
def test_an_honest_frame_passes_and_half_the_samples_does_not(
    demo_scene: Path, output_format: str, tmp_path: Path
) -> None:
    job = RenderJob(
        demo_scene, resolution=SIZE, samples=SAMPLES, device="CPU", output_format=output_format
    )
    honest = BlenderRunner().render(job, tmp_path / "honest")
    assert check_frame(honest.frame, *SIZE).size_bytes > 0
    verdict = verify(job, honest.frame, tmp_path / "verify-honest")
    assert verdict.passed, verdict.reasons
    cheap = BlenderRunner().render(replace(job, samples=SAMPLES // 2), tmp_path / "cheap")
    verdict = verify(job, cheap.frame, tmp_path / "verify-cheap")
    assert not verdict.passed
    assert any("fewer samples" in reason for reason in verdict.reasons), verdict.reasons


def test_a_frame_in_another_format_than_the_jobs_is_rejected(demo_scene, tmp_path) -> None:
    png = RenderJob(demo_scene, resolution=SIZE, samples=1, device="CPU")
    frame = BlenderRunner().render(png, tmp_path / "png").frame
    verdict = verify(replace(png, output_format="OPEN_EXR"), frame, tmp_path / "verify")
    assert not verdict.passed and not verdict.scores
    assert verdict.reasons == ["the frame is PNG; the job asked for OPEN_EXR"]
