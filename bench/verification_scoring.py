"""Scoring the labelled set with the verifier's comparison, without re-rendering.

Cycles' per-pixel noise does not depend on tiles, so a crop cut from a full-frame reference
render equals the border render of that window (up to Blender's 8-bit dither): each scene's
two full-frame references are rendered once, and every delivered frame is scored on any
number of window draws by cutting crops from arrays. A trial is one frame on one draw of K
windows; its crops are scored once and judged again for every threshold the curve tries.
"""

from __future__ import annotations

import dataclasses
import math
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from render_executor.verification.compare import CropScore, Thresholds, judge, score_crop

from bench.verification_set import Frame

Window = tuple[int, int, int, int]
"""x, y, width, height in pixels, y down from the top row."""


def load(path: Path) -> np.ndarray:
    """A PNG as the verifier decodes it: float32, H x W x C, values in [0, 1]."""
    with Image.open(path) as image:
        pixels = np.asarray(image, dtype=np.float32)
    return (pixels if pixels.ndim == 3 else pixels[..., None]) / 255.0


def draw_windows(
    rng: np.random.Generator, width: int, height: int, k: int, fraction: float
) -> list[Window]:
    """K square windows at random, each about `fraction` of the frame's area."""
    side = max(4, round(math.sqrt(fraction * width * height)))
    xs = rng.integers(0, width - side + 1, k)
    ys = rng.integers(0, height - side + 1, k)
    return [(int(x), int(y), side, side) for x, y in zip(xs, ys, strict=True)]


def crop(pixels: np.ndarray, window: Window) -> np.ndarray:
    x, y, w, h = window
    return pixels[y : y + h, x : x + w]


@dataclass(frozen=True)
class Trial:
    frame: Frame
    draw: int
    scores: tuple[CropScore, ...]

    @property
    def honest(self) -> bool:
        return self.frame.kind == "honest"


def score_frames(
    frames: Iterable[Frame],
    references: dict[str, tuple[np.ndarray, np.ndarray]],
    draws: int,
    honest_draws: int,
    k: int,
    fraction: float,
    root: Path,
) -> list[Trial]:
    """Every frame scored on its window draws (seeded by its path and the draw, so a rerun
    draws the same windows)."""
    trials = []
    for frame in frames:
        delivered = load(frame.path)
        ref_a, ref_b = references[frame.scene]
        height, width = ref_a.shape[:2]
        key = zlib.crc32(str(frame.path.relative_to(root)).encode())
        for draw in range(honest_draws if frame.kind == "honest" else draws):
            windows = draw_windows(np.random.default_rng([key, draw]), width, height, k, fraction)
            scores = tuple(
                score_crop(crop(delivered, w), crop(ref_a, w), crop(ref_b, w)) for w in windows
            )
            trials.append(Trial(frame, draw, scores))
    return trials


def rejected(trials: Iterable[Trial], thresholds: Thresholds) -> list[bool]:
    return [not judge(list(t.scores), thresholds).passed for t in trials]


def threshold_fields(thresholds: Thresholds) -> list[str]:
    """The thresholds' numeric fields that the curve and the fit can move."""
    return [
        f.name
        for f in dataclasses.fields(thresholds)
        if isinstance(getattr(thresholds, f.name), float)
    ]


@dataclass(frozen=True)
class Bound:
    """How one threshold field acts: `upper` rejects statistics above it, else below."""

    name: str
    default: float
    upper: bool

    @property
    def permissive(self) -> float:
        return math.inf if self.upper else 0.0


def bounds(thresholds: Thresholds, honest: list[Trial]) -> list[Bound]:
    """Each numeric field's direction, seen from the honest trials: lowering an upper bound
    (raising a lower one) rejects more of them."""
    found = []
    for name in threshold_fields(thresholds):
        default = getattr(thresholds, name)
        low, high = (
            dataclasses.replace(thresholds, **{name: v}) for v in (default / 4, default * 4)
        )
        found.append(
            Bound(name, default, sum(rejected(honest, low)) >= sum(rejected(honest, high)))
        )
    return found


def alone(
    thresholds: Thresholds, all_bounds: list[Bound], bound: Bound, value: float
) -> Thresholds:
    """Thresholds where only `bound` judges, at `value` (every other field permissive)."""
    values = {b.name: b.permissive for b in all_bounds if b.name != bound.name}
    return dataclasses.replace(thresholds, **values, **{bound.name: value})


def curve_values(bound: Bound, steps: int = 25, span: float = 8.0) -> list[float]:
    """Values around the default, geometric, from default/span to default*span."""
    exponents = np.linspace(-1, 1, steps)
    return [float(bound.default * span**e) for e in exponents]


def tightest(
    thresholds: Thresholds, all_bounds: list[Bound], bound: Bound, honest: list[Trial]
) -> float:
    """The tightest value of `bound` (judging alone) that rejects no honest trial: found by
    bisection in log space between the default/1000 and default*1000."""
    lo, hi = math.log(bound.default / 1000), math.log(bound.default * 1000)

    def clean(value: float) -> bool:
        return not any(rejected(honest, alone(thresholds, all_bounds, bound, value)))

    for _ in range(40):
        mid = (lo + hi) / 2
        # an upper bound is clean from some value up; a lower bound up to some value
        if clean(math.exp(mid)) == bound.upper:
            hi = mid
        else:
            lo = mid
    return math.exp(hi if bound.upper else lo)
