"""Test doubles of the agent's render step for cheating workers: the real agent, whose
Blender renders the job at 1 sample and then delivers a flat black frame of the job's size
(a forgery that costs nothing and passes the agent's own size check), or renders it at half
its samples (what the render costs, a denoiser hides from the frame)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from render_executor.blender.runner import BlenderRunner, RenderJob, RenderResult
from tests.support.forgeries import flat


class FlatFrameForgingRunner(BlenderRunner):
    """Delivers a flat black frame whatever the job asked (rendered at 1 sample for the
    report's figures only)."""

    def render(self, job: RenderJob, scratch: Path, *args, **kwargs) -> RenderResult:
        result = super().render(replace(job, samples=1), scratch, *args, **kwargs)
        flat(result.frame, result.frame, level=0)
        return result


class HalfSamplesForgingRunner(BlenderRunner):
    """Renders every job at half the samples it asked for, and delivers it as asked."""

    def render(self, job: RenderJob, scratch: Path, *args, **kwargs) -> RenderResult:
        return super().render(replace(job, samples=job.samples // 2), scratch, *args, **kwargs)
