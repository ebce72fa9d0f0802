"""A test double of the agent's render step for a cheating worker: the real agent, whose
Blender renders the job at 1 sample instead of the job's samples (a forgery that saves
nearly the whole render and looks like the scene)."""

from __future__ import annotations

from dataclasses import replace

from render_executor.blender.runner import BlenderRunner, RenderJob, RenderResult


class OneSampleForgingRunner(BlenderRunner):
    """Renders every job at 1 sample, whatever the job asked."""

    def render(self, job: RenderJob, *args, **kwargs) -> RenderResult:
        return super().render(replace(job, samples=1), *args, **kwargs)
