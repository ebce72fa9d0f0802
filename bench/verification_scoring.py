"""Scoring the labelled set with the verifier's comparison, without re-rendering.

Cycles' per-pixel noise does not depend on tiles, so a crop cut from a full-frame reference
render equals the verifier's border render of that window: each scene's two full-frame
references (display values before rounding, as the verifier's crops) are rendered once, and
every delivered frame is scored on any number of window draws (`veriframe_core.verification
.draw`, seeded) by cutting crops from arrays, with the verifier's own arguments to
`score_crop`. A trial is one frame on one draw of K windows; its crops are scored once and
judged again for every threshold the curve tries.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from random import Random

import numpy as np

from bench.verification_scales import pooled, scale_z
from bench.verification_set import Frame, LabelledSet
from render_executor.verification.compare import (
    BLOCK,
    CropScore,
    Thresholds,
    judge,
    score_crop,
)
from render_executor.verification.verifier import read_frame
from veriframe_core.verification import Window, draw


@dataclass(frozen=True)
class Reference:
    """A scene's two reference renders (RGB display values) and how to compare with them."""

    a: np.ndarray
    b: np.ndarray
    rounding_levels2: float  # the delivery's 8-bit rounding after dither, as the verifier has
    block: int  # BLOCK when the denoiser mixes neighbours, as the verifier has


def references(labelled: LabelledSet, scenes: Iterable[str]) -> dict[str, Reference]:
    found = {}
    for scene in scenes:
        a, b = (np.clip(np.load(labelled.reference(scene, w))[..., :3], 0, 1) for w in "ab")
        facts = labelled.facts(scene)
        rounding = (1 + facts["dither"] ** 2) / 12
        found[scene] = Reference(a, b, rounding, BLOCK if facts["denoise"] else 1)
    return found


def cut(pixels: np.ndarray, window: Window) -> np.ndarray:
    return pixels[window.y : window.y + window.height, window.x : window.x + window.width]


@dataclass(frozen=True)
class Trial:
    frame: Frame
    draw: int
    scores: tuple[CropScore, ...]
    scales: tuple[float, float]  # the crops' fine and coarse z pooled (verification_scales)

    @property
    def honest(self) -> bool:
        return self.frame.kind == "honest"


def score_frames(
    frames: Iterable[Frame],
    refs: dict[str, Reference],
    draws: int,
    honest_draws: int,
    crops: int,
    share: float,
    root: Path,
) -> list[Trial]:
    """Every frame scored on its window draws (seeded by its path and the draw, so a rerun
    draws the same windows)."""
    floor = Thresholds().floor_levels2
    trials = []
    for frame in frames:
        delivered = read_frame(frame.path)
        ref = refs[frame.scene]
        height, width = ref.a.shape[:2]
        key = zlib.crc32(str(frame.path.relative_to(root)).encode())
        for n in range(honest_draws if frame.kind == "honest" else draws):
            windows = draw(width, height, crops, share, Random(key * 1000 + n)).windows
            cuts = [(cut(delivered, w), cut(ref.a, w), cut(ref.b, w)) for w in windows]
            scores = tuple(
                score_crop(
                    *crop,
                    rounding_levels2=ref.rounding_levels2,
                    floor_levels2=floor,
                    block=ref.block,
                )
                for crop in cuts
            )
            zs = [scale_z(*c, ref.rounding_levels2, floor, ref.block) for c in cuts]
            scales = (pooled([z[0] for z in zs]), pooled([z[1] for z in zs]))
            trials.append(Trial(frame, n, scores, scales))
    return trials


def rejected(trials: Iterable[Trial], thresholds: Thresholds) -> list[bool]:
    return [not judge(t.scores, thresholds).passed for t in trials]


def judge_thresholds(thresholds: Thresholds) -> list[str]:
    """The thresholds `judge` reads (those that are `score_crop`'s arguments act when scoring,
    so the curve cannot move them). In this verifier every one is an upper bound: raising
    it rejects less."""
    scoring = set(inspect.signature(score_crop).parameters)
    return [f.name for f in dataclasses.fields(thresholds) if f.name not in scoring]


def curve_values(default: float, steps: int = 25, span: float = 8.0) -> list[float]:
    """Values around the default, geometric, from default/span to default*span."""
    return [float(default * span**e) for e in np.linspace(-1, 1, steps)]


def tightest(thresholds: Thresholds, name: str, honest: list[Trial]) -> float:
    """The smallest value of threshold `name` (the others as given) that rejects no honest
    trial: bisection in log space between the default/1000 and default*1000."""
    default = getattr(thresholds, name)
    lo, hi = math.log(default / 1000), math.log(default * 1000)
    for _ in range(30):
        mid = (lo + hi) / 2
        moved = dataclasses.replace(thresholds, **{name: math.exp(mid)})
        if any(rejected(honest, moved)):
            lo = mid
        else:
            hi = mid
    return math.exp(hi)
