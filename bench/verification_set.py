"""The verification bench's labelled set: where each frame lives, and building what is missing.

Per scene of `bench/verification_scenes.py`: `REFERENCE_PAIRS` pairs of reference renders
(the verifier's two seeds, as display values before the 8-bit rounding, like its crop
renders) each with its preview at the pair's first seed, as a verification draws new seeds
each time; one pair for every trial would freeze the references' own noise and understate
how far honest verdicts spread (measured: the pooled noise ratio of one honest frame of the
demo's kind spread with a standard deviation of 0.060 through the verifier and 0.03 in the set
with one pair), `honest`
frames (seeds 1000+, every fourth on one thread, every fourth with 32-pixel tiles; the
machine has no GPU, so none on a GPU device), and `instances` of every forgery at every
strength (render-level ones rendered with seeds 5000+, image-level ones made by
`tests/support/forgeries.py` from honest frames). In a scene rendered with the denoiser,
every render also keeps its noisy pass (the render before the denoiser, which a worker
delivers beside a denoised frame: `render_executor.passes`); an image-level forgery is
delivered with its honest frame's pass (the cheater rendered it; only the frame is forged),
an upscaled one with its small render's pass upscaled too. Everything is cached under one
folder and skipped when present, so a second run builds nothing.
"""

from __future__ import annotations

import json
import re
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
from PIL import Image

from bench.verification_scenes import HEIGHT, SCENE_FRAME, SCENES, WIDTH
from render_executor.blender.inside import PREVIEW_PERCENTAGE, PREVIEW_SAMPLES_DIVISOR
from render_executor.passes import Passes, read_noisy, save_passes, write_passes
from tests.support import forgeries

SCRIPT = Path(__file__).with_name("verification_scenes.py")
REFERENCE_PAIRS = 8


def reference_seeds(pair: int) -> dict[str, int]:
    """The pair's two references by name (pair 0: "a" and "b", seeds 1 and 2) and seeds."""
    if pair == 0:
        return {"a": 1, "b": 2}
    return {f"a{pair}": 100 + 2 * pair, f"b{pair}": 101 + 2 * pair}


def preview_name(pair: int) -> str:
    return "preview" if pair == 0 else f"preview{pair}"


PREVIEW = {  # the verifier's preview of the whole frame, which places its guided windows
    "resolution_percentage": PREVIEW_PERCENTAGE,
    "samples_factor": 1 / PREVIEW_SAMPLES_DIVISOR,
    "display_values": True,
}
HONEST_SEED, FORGED_SEED = 1000, 5000
SIZE = (WIDTH, HEIGHT)

ImageForgery = Callable[[Path, Path, int], None]
"""(source frame, forged frame, instance) → writes the forged frame."""

IMAGE_FORGERIES: dict[str, dict[str, ImageForgery]] = {
    "flat": {
        "grey 128": lambda s, d, i: forgeries.flat(s, d, 128),
        "mean colour": lambda s, d, i: forgeries.flat(s, d),
    },
    "noise": {
        "uniform": lambda s, d, i: forgeries.noise(s, d, seed=i),
        "frame's mean and spread": lambda s, d, i: forgeries.noise(s, d, seed=i, matched=True),
    },
    "shifted": {
        f"{n} px": partial(lambda n, s, d, i: forgeries.shift(s, d, n), n) for n in (1, 3, 10)
    },
    "JPEG": {f"q{q}": partial(lambda q, s, d, i: forgeries.jpeg(s, d, q), q) for q in (95, 85, 75)},
    "colour shifted": {
        f"red +{n}": partial(lambda n, s, d, i: forgeries.colour_shift(s, d, n), n)
        for n in (2, 5, 10)
    },
    "hue/saturation": {
        "hue +5°": lambda s, d, i: forgeries.hue_saturation(s, d, hue_deg=5),
        "saturation ×0.85": lambda s, d, i: forgeries.hue_saturation(s, d, saturation=0.85),
    },
}
OTHER_SCENE = "other scene"
"""Another scene's honest frame replayed (`forgeries.replay`)."""


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"


@dataclass(frozen=True)
class Frame:
    """One delivered frame of the set: honest (kind "honest") or a forgery's instance."""

    scene: str
    kind: str
    strength: str
    instance: int
    path: Path


@dataclass(frozen=True)
class BuildReport:
    renders: int
    wall_seconds: float
    cpu_seconds: float


class LabelledSet:
    def __init__(self, cache: Path, honest: int = 80, instances: int = 4):
        self.cache, self.honest, self.instances = cache, honest, instances

    def blend(self, scene: str) -> Path:
        return self.cache / "blend" / f"{scene}.blend"

    def reference(self, scene: str, which: str) -> Path:
        return self.cache / scene / "reference" / f"{which}.npy"

    def rounded_reference(self, scene: str, which: str) -> Path:
        """The same render dithered and rounded to 8 bits, as a delivery is."""
        return self.reference(scene, which).with_suffix(".png")

    def facts(self, scene: str) -> dict:
        """What the scene script found in the scene: `denoise`, `dither`, `samples`."""
        return json.loads(self.blend(scene).with_suffix(".json").read_text())

    @staticmethod
    def noisy(path: Path) -> Path:
        """The noisy pass delivered beside the frame at `path` (denoised scenes)."""
        return path.with_suffix(".noisy.exr")

    def noisy_for(self, frame: Frame) -> Path | None:
        """The noisy pass delivered with `frame`; None in a scene without the denoiser."""
        if not self.facts(frame.scene)["denoise"]:
            return None
        if frame.kind in forgeries.RENDER_FORGERIES:
            return self.noisy(frame.path)
        return self.noisy(Path(self._honest_job(frame.scene, frame.instance)["out"]))

    def _honest_job(self, scene: str, i: int) -> dict:
        threads = 1 if i % 4 == 1 else None
        tile = 32 if i % 4 == 3 else 2048
        name = f"s{HONEST_SEED + i}-t{threads or 'auto'}-tile{tile}.png"
        job = {"out": str(self.cache / scene / "honest" / name), "seed": HONEST_SEED + i}
        return job | {"tile": tile} | ({"threads": threads} if threads else {})

    def _rendered(self, scene: str, kind: str, strength: str, j: int) -> Path:
        return self.cache / scene / "rendered" / slug(kind) / slug(strength) / f"{j}.png"

    def _forged(self, scene: str, kind: str, strength: str, j: int) -> Path:
        return self.cache / scene / "forged" / slug(kind) / slug(strength) / f"{j}.png"

    def render_jobs(self, scene: str) -> list[dict]:
        """Every render of the scene: references, honest frames, render-level forgeries."""
        jobs, previews = [], []
        for pair in range(REFERENCE_PAIRS):
            seeds = reference_seeds(pair)
            jobs += [
                {"out": str(self.reference(scene, which)), "seed": seed, "display_values": True}
                for which, seed in seeds.items()
            ]
            first = 3 if pair == 0 else min(seeds.values())  # pair 0's, kept from before
            out = str(self.reference(scene, preview_name(pair)))
            previews.append({"out": out, "seed": first} | PREVIEW)
        jobs += previews
        jobs += [self._honest_job(scene, i) for i in range(self.honest)]
        for kind, strengths in forgeries.RENDER_FORGERIES.items():
            for strength, change in strengths.items():
                for j in range(self.instances):
                    out = self._rendered(scene, kind, strength, j)
                    jobs.append(
                        {"out": str(out), "seed": FORGED_SEED + j}
                        | change.render_settings(SCENE_FRAME)
                    )
        if self.facts(scene)["denoise"]:
            for job in jobs:
                if job not in previews:  # they only place windows
                    job["noisy"] = str(Path(job["out"]).with_suffix(".passes.exr"))
        return jobs

    def _missing(self, job: dict) -> bool:
        out = Path(job["out"])
        return not out.exists() or ("noisy" in job and not self.noisy(out).exists())

    def build(self, log: Callable[[str], None] = print) -> BuildReport:
        """Render what is missing (one Blender process per scene), then make the image-level
        forgeries that are missing; the renders' wall time and CPU (Blender's processes)."""
        started, cpu_before = time.perf_counter(), _children_cpu()
        renders = 0
        for scene in SCENES:
            if not self.blend(scene).exists():
                self._render(scene, [])  # builds the scene, whose facts say what to render
            jobs = [j for j in self.render_jobs(scene) if self._missing(j)]
            if not jobs:
                continue
            log(f"{scene}: rendering {len(jobs)} frames")
            renders += self._render(scene, jobs)
            for job in jobs:
                if "noisy" in job:  # the delivered pass alone, as the agent writes it
                    write_passes(Path(job["noisy"]), self.noisy(Path(job["out"])))
                    Path(job["noisy"]).unlink()
        report = BuildReport(renders, time.perf_counter() - started, _children_cpu() - cpu_before)
        for frame in self.frames():
            if not frame.path.exists():
                self._forge(frame)
            small = self._rendered(frame.scene, frame.kind, frame.strength, frame.instance)
            wanted = self.noisy(frame.path)
            if frame.kind == "upscaled" and self.noisy(small).exists() and not wanted.exists():
                _upscale_noisy(self.noisy(small), wanted)
        return report

    def _render(self, scene: str, jobs: list[dict]) -> int:
        folder = self.cache / "specs"
        folder.mkdir(parents=True, exist_ok=True)
        spec, result = folder / f"{scene}.json", folder / f"{scene}.result.json"
        spec.write_text(
            json.dumps(
                {"scene": scene, "blend": str(self.blend(scene)), "result": str(result)}
                | {"renders": jobs}
            )
        )
        with open(folder / f"{scene}.log", "w") as log:
            subprocess.run(
                [sys.executable, str(SCRIPT), "--", str(spec)], check=True, stdout=log, stderr=log
            )
        return len(json.loads(result.read_text())["rendered"])

    def frames(self) -> list[Frame]:
        """Every delivered frame of the set, honest ones first."""
        found = [
            Frame(scene, "honest", "", i, Path(self._honest_job(scene, i)["out"]))
            for scene in SCENES
            for i in range(self.honest)
        ]
        for scene in SCENES:
            for kind, strengths in forgeries.RENDER_FORGERIES.items():
                for strength in strengths:
                    for j in range(self.instances):
                        small = kind == "upscaled"
                        path = (self._forged if small else self._rendered)(scene, kind, strength, j)
                        found.append(Frame(scene, kind, strength, j, path))
            for kind, strengths in IMAGE_FORGERIES.items():
                for strength in strengths:
                    for j in range(self.instances):
                        path = self._forged(scene, kind, strength, j)
                        found.append(Frame(scene, kind, strength, j, path))
            for j in range(self.instances):
                path = self._forged(scene, OTHER_SCENE, "", j)
                found.append(Frame(scene, OTHER_SCENE, "", j, path))
        return found

    def _forge(self, frame: Frame) -> None:
        """Make an image-level forgery (or upscale a smaller render) from its source."""
        honest = Path(self._honest_job(frame.scene, frame.instance)["out"])
        if frame.kind == "upscaled":
            small = self._rendered(frame.scene, frame.kind, frame.strength, frame.instance)
            forgeries.upscale(small, frame.path, SIZE)
        elif frame.kind == OTHER_SCENE:
            scenes = list(SCENES)
            other = scenes[(scenes.index(frame.scene) + 1) % len(scenes)]
            source = Path(self._honest_job(other, frame.instance)["out"])
            forgeries.replay(source, frame.path, SIZE)
        else:
            IMAGE_FORGERIES[frame.kind][frame.strength](honest, frame.path, frame.instance)


def _upscale_noisy(small: Path, dst: Path) -> None:
    """A smaller render's noisy pass brought to SIZE as `forgeries.upscale` brings its frame
    (bicubic), each channel as floats."""
    channels = [
        np.asarray(Image.fromarray(c).resize(SIZE, Image.Resampling.BICUBIC))
        for c in np.moveaxis(read_noisy(small), 2, 0)
    ]
    save_passes(Passes(np.stack(channels, axis=2)), dst)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime
