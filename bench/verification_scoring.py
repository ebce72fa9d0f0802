"""Scoring the labelled set with the verifier's comparison, without re-rendering.

Cycles' per-pixel noise does not depend on tiles, so a crop cut from a full-frame reference
render equals the verifier's border render of that window: each scene's two full-frame
references (display values before rounding, as the verifier's crops) are rendered once, and
every delivered frame is scored on any number of window draws (`veriframe_core.verification
.draw`, seeded) by cutting crops from arrays, with the verifier's own arguments to
`score_crop`. A trial is one frame on one draw of K windows; its crops are scored once and
judged again for every threshold the curve tries. In a denoised scene the frame's noisy pass
is scored in the same windows against the references' noisy passes, as the verifier does,
and judged with its thresholds for frames without a denoiser (which the curve leaves).
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from random import Random

import numpy as np
from PIL import Image

from bench.verification_set import (
    REFERENCE_PAIRS,
    Frame,
    LabelledSet,
    preview_name,
    reference_seeds,
)
from render_executor.blender.inside import guided_windows
from render_executor.passes import display_values, read_noisy
from render_executor.verification.compare import (
    BLOCK,
    DEFAULT_THRESHOLDS,
    DENOISED_THRESHOLDS,
    CropScore,
    Thresholds,
    judge,
    rounding_variance,
    score_crop,
)
from render_executor.verification.verifier import read_frame
from veriframe_core.verification import Window, draw


@dataclass(frozen=True)
class Reference:
    """A pair of a scene's reference renders (RGB display values) and how to compare with
    them."""

    a: np.ndarray
    b: np.ndarray
    preview: np.ndarray  # the verifier's cheap render of the whole frame
    rounding_levels2: float | np.ndarray  # the delivery's 8-bit rounding after dither
    block: int  # BLOCK when the denoiser mixes neighbours, as the verifier has
    noisy: tuple[np.ndarray, np.ndarray] | None = None  # a and b's noisy passes, displayed


LEVEL_BINS = 16


def _level_bin(levels: np.ndarray) -> np.ndarray:
    """Each value's fractional 8-bit level, as one of LEVEL_BINS bins."""
    return np.minimum(((levels - np.floor(levels)) * LEVEL_BINS).astype(int), LEVEL_BINS - 1)


def measured_rounding(labelled: LabelledSet, scenes: Iterable[str]) -> np.ndarray:
    """The variance (levels²) Blender's dither and 8-bit rounding add to a value, by its
    fractional level, measured on the references (their 8-bit PNG against their display
    values; values within 2 levels of black or white left out, where clipping shrinks it)."""
    bins, errors = [], []
    for scene in scenes:
        for w in "ab":
            exact = np.load(labelled.reference(scene, w))[..., :3].astype(np.float64) * 255
            with Image.open(labelled.rounded_reference(scene, w)) as image:
                rounded = np.asarray(image.convert("RGB"), dtype=np.float64)
            inside = (exact > 2) & (exact < 253)
            bins.append(_level_bin(exact)[inside])
            errors.append((rounded - exact)[inside])
    level, error = np.concatenate(bins), np.concatenate(errors)
    return np.array([error[level == i].var() for i in range(LEVEL_BINS)])


def references(labelled: LabelledSet, scenes: Iterable[str]) -> dict[str, list[Reference]]:
    """Each scene's reference pairs, with the rounding variance the verifier models
    (`compare.rounding_variance`: per value, from its fractional level in their mean)."""
    found = {}
    for scene in scenes:
        facts, pairs = labelled.facts(scene), []
        for pair in range(REFERENCE_PAIRS):
            names = [*reference_seeds(pair), preview_name(pair)]
            a, b, preview = (
                np.clip(np.load(labelled.reference(scene, w))[..., :3], 0, 1) for w in names
            )
            rounding = rounding_variance((a + b) / 2, facts["dither"])
            noisy = None
            if facts["denoise"]:
                paths = (labelled.noisy(labelled.reference(scene, w)) for w in names[:2])
                noisy = tuple(display_values(read_noisy(p)) for p in paths)
            block = BLOCK if facts["denoise"] else 1
            pairs.append(Reference(a, b, preview, rounding, block, noisy))
        found[scene] = pairs
    return found


def cut(pixels: np.ndarray, window: Window) -> np.ndarray:
    return pixels[window.y : window.y + window.height, window.x : window.x + window.width]


def _at(value: float | np.ndarray, window: Window) -> float | np.ndarray:
    return cut(value, window) if isinstance(value, np.ndarray) else value


@dataclass(frozen=True)
class Trial:
    frame: Frame
    draw: int
    scores: tuple[CropScore, ...]
    denoised: bool  # judged by the verifier with its thresholds for denoised frames
    noisy_scores: tuple[CropScore, ...] = ()  # its noisy pass's, in a denoised scene

    @property
    def honest(self) -> bool:
        return self.frame.kind == "honest"


def score_frames(
    frames: Iterable[Frame],
    refs: dict[str, list[Reference]],
    draws: int,
    honest_draws: int,
    crops: int,
    share: float,
    root: Path,
    noisy_for: Callable[[Frame], Path | None] = lambda frame: None,
) -> list[Trial]:
    """Every frame scored on its window draws (seeded by its path and the draw, so a rerun
    draws the same windows) and the windows the verifier would place with its preview, and
    the noisy pass delivered with it (`noisy_for`) in a scene that has the references'."""
    floor = Thresholds().floor_levels2
    trials = []
    for frame in frames:
        delivered = read_frame(frame.path)
        pairs = refs[frame.scene]
        noisy = pairs[0].noisy and display_values(read_noisy(noisy_for(frame)))
        height, width = pairs[0].a.shape[:2]
        key = zlib.crc32(str(frame.path.relative_to(root)).encode())
        for n in range(honest_draws if frame.kind == "honest" else draws):
            ref = pairs[(key + n) % len(pairs)]  # new seeds each verification, as the verifier
            drawn = draw(width, height, crops, share, Random(key * 1000 + n)).windows
            taken = [(w.x, w.y, w.width, w.height) for w in drawn]
            side, count = drawn[0].width, len(drawn)
            windows = [
                *drawn,
                *(
                    Window(x=x, y=y, width=w, height=h)
                    for x, y, w, h in guided_windows(delivered, ref.preview, side, count, taken)
                ),
            ]
            cuts = [(cut(delivered, w), cut(ref.a, w), cut(ref.b, w)) for w in windows]
            roundings = [_at(ref.rounding_levels2, w) for w in windows]
            scores = tuple(
                score_crop(*c, rounding_levels2=r, floor_levels2=floor, block=ref.block)
                for c, r in zip(cuts, roundings, strict=True)
            )
            noisy_scores = ()
            if ref.noisy:
                noisy_scores = tuple(
                    score_crop(cut(noisy, w), cut(ref.noisy[0], w), cut(ref.noisy[1], w))
                    for w in windows
                )
            trials.append(Trial(frame, n, scores, ref.block > 1, noisy_scores))
    return trials


def rejected(trials: Iterable[Trial], thresholds: Thresholds | None = None) -> list[bool]:
    """Each trial's verdict by `thresholds`, or (None) by the verifier's own: those fitted
    for frames with or without a denoiser, as its scene has; a noisy pass always by those
    without (as the verifier judges it)."""
    return [
        not judge(
            t.scores, thresholds or (DENOISED_THRESHOLDS if t.denoised else DEFAULT_THRESHOLDS)
        ).passed
        or (bool(t.noisy_scores) and not judge(t.noisy_scores, DEFAULT_THRESHOLDS).passed)
        for t in trials
    ]


def judge_thresholds(thresholds: Thresholds) -> list[str]:
    """The thresholds `judge` reads (those that are `score_crop`'s arguments act when scoring,
    so the curve cannot move them). In this verifier every one is an upper bound: raising
    it rejects less."""
    scoring = set(inspect.signature(score_crop).parameters)
    return [f.name for f in dataclasses.fields(thresholds) if f.name not in scoring]


def curve_values(default: float, steps: int = 25, span: float = 8.0) -> list[float]:
    """Values around the default, geometric, from default/span to default*span."""
    return [float(default * span**e) for e in np.linspace(-1, 1, steps)]


def tightest(thresholds: Thresholds, name: str, honest: list[Trial], around: float) -> float:
    """The smallest value of threshold `name` (the others as given) that rejects no honest
    trial: bisection in log space between around/1000 and around*1000."""
    lo, hi = math.log(around / 1000), math.log(around * 1000)
    for _ in range(30):
        mid = (lo + hi) / 2
        moved = dataclasses.replace(thresholds, **{name: math.exp(mid)})
        if any(rejected(honest, moved)):
            lo = mid
        else:
            hi = mid
    return math.exp(hi)
