"""Cheating agents: the real agent with its render step replaced by a forging test double,
one forgery per job, on a noisy scene. The platform's verifier rejects every forgery, the
jobs are rendered again by an honest agent, and only the honest worker becomes the jobs'
worker on chain (the one settlement may pay)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from render_executor.blender.runner import BlenderRunner, RenderJob, RenderResult
from tests.support import forgeries
from tests.support.platform import WorkerPlatform

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = {"resolution_x": 160, "resolution_y": 96, "samples": 16, "frame": 10}
Render = Callable[[RenderJob], RenderResult]


def _edit(change: Callable[[Path], None]) -> Callable[[Render, RenderJob, Path], RenderResult]:
    """A forgery made by editing the honestly rendered frame."""

    def forge(render: Render, job: RenderJob, demo: Path) -> RenderResult:
        result = render(job)
        change(result.frame)
        return result

    return forge


def _half_size(render: Render, job: RenderJob, demo: Path) -> RenderResult:
    width, height = job.resolution
    result = render(replace(job, resolution=(width // 2, height // 2)))
    forgeries.upscale(result.frame, result.frame, (width, height))
    return result


FORGERIES: dict[str, Callable[[Render, RenderJob, Path], RenderResult]] = {
    "flat": _edit(lambda frame: forgeries.flat(frame, frame)),
    "noise": _edit(lambda frame: forgeries.noise(frame, frame, seed=7, matched=True)),
    "half the samples": lambda render, job, demo: render(replace(job, samples=job.samples // 2)),
    "1 sample, denoised": lambda render, job, demo: render(replace(job, samples=1, denoise=True)),
    "another frame": lambda render, job, demo: render(replace(job, frame=job.frame + 5)),
    "another scene": lambda render, job, demo: render(replace(job, blend=demo)),
    "another job's frame": lambda render, job, demo: render(replace(job, frame=1, samples=32)),
    "half size, upscaled": _half_size,
    "shifted 3 px": _edit(lambda frame: forgeries.shift(frame, frame, 3)),
    "JPEG q75": _edit(lambda frame: forgeries.jpeg(frame, frame, 75)),
    "red +5 levels": _edit(lambda frame: forgeries.colour_shift(frame, frame, 5)),
}


class ForgingRunnerTestDouble(BlenderRunner):
    """The agent's render step replaced by a forgery (a test double): it renders what the
    forgery needs with the real Blender and delivers that instead of the job."""

    def __init__(self, forge: Callable[[Render, RenderJob, Path], RenderResult], demo: Path):
        super().__init__()
        self.forge, self.demo = forge, demo

    def render(self, job: RenderJob, scratch: Path, *args, **kwargs) -> RenderResult:
        def honest(asked: RenderJob) -> RenderResult:
            return super(ForgingRunnerTestDouble, self).render(asked, scratch, *args, **kwargs)

        return self.forge(honest, job, self.demo)


@pytest.fixture(scope="module")
def noisy_scene(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The labelled set's fine-texture scene (bench/verification_scenes.py): noisy enough at
    16 samples that fewer samples, blur and shifts show in any window."""
    blend = tmp_path_factory.mktemp("scenes") / "texture.blend"
    code = (
        "import sys, bpy; sys.path.insert(0, sys.argv[1]); "
        "from bench.verification_scenes import build; build(bpy, 'texture', sys.argv[2])"
    )
    subprocess.run(
        [sys.executable, "-c", code, str(ROOT), str(blend)], check=True, capture_output=True
    )
    return blend


def test_every_forgery_is_rejected_and_only_the_honest_worker_gets_the_jobs(
    platform: WorkerPlatform, noisy_scene: Path, tmp_path: Path
) -> None:
    chain = platform.chain
    asset = platform.upload(noisy_scene)
    cheaters = platform.activity.workers[1:5]  # each below the API's rejection limit
    jobs = {}
    for n, (kind, forge) in enumerate(FORGERIES.items()):
        job_id = platform.post_job(asset, **SETTINGS)  # the best paid: the one claimed next
        cheater = cheaters[n % len(cheaters)]
        with platform.agent(cheater, tmp_path / f"cheater-{n}") as agent:
            agent.runner = ForgingRunnerTestDouble(forge, platform.demo_scene)
            (outcome,) = agent.run(once=True)
        assert outcome.job_id == job_id and outcome.completed, (kind, outcome.reason)
        verdict = outcome.verification
        assert verdict is not None and verdict.state == "rejected", (kind, verdict)
        assert verdict.report.reasons and outcome.submitted_tx is None, kind
        jobs[job_id] = kind
    assert all(chain.view(chain.registry, "get_job_worker", j) == 0 for j in jobs)

    honest = platform.activity.workers[0]
    with platform.agent(honest, tmp_path / "honest") as agent:
        outcomes = agent.run(max_jobs=len(jobs))
    assert {o.job_id for o in outcomes} == set(jobs)
    for outcome in outcomes:
        kind = jobs[outcome.job_id]
        assert outcome.verification.state == "verified", (kind, outcome.verification)
        assert outcome.submitted_tx, kind
        assert chain.view(chain.registry, "get_job_worker", outcome.job_id) == honest.address
