"""A test double of the agent's render step for a cheating worker: the real agent, whose
Blender renders the job at 1 sample and then delivers a flat black frame of the job's size
(a forgery that costs nothing and passes the agent's own size check)."""

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
