"""Whether a delivered crop is a render of the job, judged against the noise of Monte Carlo.

Two honest renders of the same pixels differ only by sampling noise. The verifier renders
each window twice, at seeds the worker never saw (A and B), so it knows that noise there:
per value, `A − B` has twice the variance of one render. The delivered crop D, if honest,
is a third independent render: `D − (A + B) / 2` then has 1.5 times that variance, so
`noise_ratio` = Σ (D − (A + B)/2)² / Σ 0.75 (A − B)² is about 1 for an honest crop,
whatever the scene's noise level.

How far from 1 is still honest depends on how many pixels carry the noise: a converged
scene's noise sits in a few edge and shadow pixels, a caustic's in a few fireflies. So the
ratio comes with its standard error, estimated from the crop itself (the delta method for
a ratio of sums, over pixels, or over 8 × 8 blocks when a denoiser or compositor mixes
neighbours, so that noise correlated between them counts once), and a crop is judged by
`noise_z`, the ratio's distance from 1 in standard errors, together with how far it is
(`noise_ratio`):

- Too much noise (fewer samples, JPEG blocks, other content, a shift): ratio and z high.
- Too little (a denoised cheap render, an upscaled smaller one): both low, where the job's
  own render is noisy enough to tell.
- A biased change (a colour shift, another exposure): `bias_z`, the largest channel's mean
  difference in standard errors of the block means.

The references are the display values before rounding; the delivery was rounded to 8 bits
after Blender's dither, which adds a known variance to its side (`rounding_levels2`).
`floor` is a variance (in 8-bit levels²) added per value to both sides of the ratio: where
a frame has no noise (a flat sky), a delivery equal to the references scores 1, and one
made on another device or build of Blender, a level or so off there, is not taken for a
cheat; where there is noise it is negligible. The thresholds come from the labelled set
(`bench/verification.py`, figures in bench/README.md). The crops of a frame are judged one
by one and together (their z pooled), which finds a cheat spread thinly over all of them.

A denoised frame is judged another way when the worker delivered the denoiser's passes
(`render_executor.passes`): the verifier denoises each window of them again, as Cycles did,
and the frame must equal that up to its rounding and what denoising a window apart from the
frame changes (`score_redone`, `judge_redone`, bounds by the frame's format); the passes
themselves are judged for their noise as above.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

LEVEL = 1 / 255
BLOCK = 8
REFERENCE_PIXELS = 12 * 32 * 32
"""The pixels a verdict of the labelled set judged (12 windows of 32 px), on which the
bounds of the crops together were fitted. A verdict on fewer distinct pixels (a frame so
small its windows overlap) spreads more: its bounds widen by √(REFERENCE_PIXELS / pixels)
(`widening`), as a mean's standard error does."""


def widening(pixels: int | None) -> float:
    """How much wider the bounds of the crops together are for a verdict on `pixels`
    distinct pixels: never narrower than fitted."""
    return max(1.0, float(np.sqrt(REFERENCE_PIXELS / pixels))) if pixels else 1.0


@dataclass(frozen=True)
class Thresholds:
    """Where an honest crop's statistics end (see the module's docstring)."""

    noise_z_max: float = 3.44  # the crops together; each alone: `crop_z_max`
    crop_z_max: float = 4.63
    noise_effect: float = 0.1  # |ratio - 1| below this is never a reason
    smooth_z_max: float = 4.43  # the crops' fine_z together, below 0 (too smooth)
    coarse_z_max: float = 3.69  # the crops' coarse_z together
    bias_z_max: float = 6.32
    bias_effect_levels: float = 0.5  # a mean shift below this is never a reason
    crop_ratio_max: float = 4.68  # a crop's noise_ratio, whatever its z
    ratio_max: float = 1.34  # the crops' noise_ratio together, whatever their z
    floor_levels2: float = 2.0


DEFAULT_THRESHOLDS = Thresholds()
"""Fitted on the labelled set's six scenes rendered without a denoiser, 12 windows (6 drawn,
6 guided), each trial against one of 8 pairs of references as each verification draws new
seeds: no honest trial of 2,400 rejected, each bound 10 % beyond the honest extreme with the
others open (`bench/verification.py --fit`; bench/README.md)."""
DENOISED_THRESHOLDS = Thresholds(
    noise_z_max=10.22,
    crop_z_max=18.03,
    smooth_z_max=5.17,
    coarse_z_max=6.46,
    bias_z_max=43.78,
    crop_ratio_max=5.85,
    ratio_max=1.7,
)
"""For frames a denoiser (or compositor) made: its residual is smooth over more than the
blocks the standard errors are taken over, so honest crops drift further in z, and the
ratio bounds do more of the work. Fitted the same way on the labelled set's denoised scene:
they catch content changed in the large, not a denoised render of half the samples (the
noisy pass delivered beside the frame shows that), nor every small change (red +2 levels in
90 % of trials, JPEG q95 in 55 %; bench/README.md)."""

GUIDE_THRESHOLDS = Thresholds(
    noise_z_max=np.inf, crop_z_max=np.inf, smooth_z_max=np.inf, coarse_z_max=np.inf,
    bias_z_max=np.inf,
)  # fmt: skip
"""For a denoised frame's albedo and normal passes: between seeds they differ only where a
pixel sees more than one surface, and most windows not at all, which leaves no standard
error to measure in; they are judged by the default ratios alone (a forged guide is far
off, since the floor, two levels², dwarfs half-float rounding)."""


DITHERED_ROUNDING = np.array(
    [0.167, 0.171, 0.178, 0.190, 0.202, 0.222, 0.239, 0.248,
     0.248, 0.239, 0.222, 0.204, 0.188, 0.177, 0.170, 0.169]
)  # fmt: skip
"""The variance (levels²) Blender's default dither (1.0) and 8-bit rounding add to a value,
by its fractional level in 16 bins: measured on the labelled set's renders saved both as
8-bit PNGs and as display values (`bench/verification.py --rounding by-level`)."""


def rounding_variance(mean: np.ndarray, dither: float) -> np.ndarray:
    """Per value, the variance the delivery's 8-bit rounding adds where an honest render's
    display value is `mean` (0–1): by fractional level with Blender's default dither,
    `(1 + dither²) / 12` otherwise; none where the value is clipped to black or white."""
    levels = mean * 255
    if dither == 1.0:
        bins = len(DITHERED_ROUNDING)
        found = DITHERED_ROUNDING[np.minimum(((levels % 1) * bins).astype(int), bins - 1)]
    else:
        found = np.full(levels.shape, (1 + dither**2) / 12)
    return np.where((levels <= 0) | (levels >= 255), 0.0, found)


@dataclass(frozen=True)
class CropScore:
    """One crop's statistics."""

    noise_ratio: float
    noise_z: float
    fine_z: float  # the noise within 2 × 2 squares, in standard errors from honest
    coarse_z: float  # the noise of their means
    bias_z: float
    bias_levels: float  # the largest channel's mean difference, 8-bit levels
    noise_level: float  # RMS noise of one reference render, 8-bit levels
    expected_levels2: float  # what an honest delivery's squared deviation averages
    pixels: int


@dataclass(frozen=True)
class Judgement:
    passed: bool
    noise_ratio: float  # the crops together
    noise_z: float  # the crops' noise_z pooled (Stouffer): Σz / √(crops with noise)
    fine_z: float  # the crops' fine_z and coarse_z, pooled the same way
    coarse_z: float
    reasons: list[str] = field(default_factory=list)


def score_crop(
    delivered: np.ndarray,
    reference_a: np.ndarray,
    reference_b: np.ndarray,
    *,
    rounding_levels2: float | np.ndarray = 0.0,
    floor_levels2: float = DEFAULT_THRESHOLDS.floor_levels2,
    block: int = 1,
) -> CropScore:
    """The statistics of one crop: three same-shaped H × W × C arrays of values in [0, 1].
    `rounding_levels2`: the variance the delivery's 8-bit rounding adds (after Blender's
    dither) when the references are not rounded, per value (`rounding_variance`) or one for
    all; `block`: the side of the squares the standard error is estimated over, 1 when
    pixels are rendered independently (Cycles), BLOCK when a denoiser or compositor mixes
    them."""
    if not delivered.shape == reference_a.shape == reference_b.shape:
        raise ValueError(
            f"crop shapes differ: {delivered.shape}, {reference_a.shape}, {reference_b.shape}"
        )
    d = delivered.astype(np.float64)
    a, b = reference_a.astype(np.float64), reference_b.astype(np.float64)
    deviation = d - (a + b) / 2
    noise = a - b
    floor = floor_levels2 * LEVEL**2
    x = _block_sums(deviation**2 + floor, block)
    y = _block_sums(0.75 * noise**2 + (rounding_levels2 + floor_levels2) * LEVEL**2, block)
    ratio, z = ratio_z(x, y)
    fine_z, coarse_z = _scale_z(
        deviation, noise, float(np.mean(rounding_levels2)), floor_levels2, block
    )
    bias_z, bias = _bias(deviation)
    return CropScore(
        noise_ratio=ratio,
        noise_z=z,
        fine_z=fine_z,
        coarse_z=coarse_z,
        bias_z=bias_z,
        bias_levels=bias / LEVEL,
        noise_level=float(np.sqrt(np.mean(noise**2) / 2) / LEVEL),
        expected_levels2=float(y.sum() / d.size / LEVEL**2),
        pixels=int(d.shape[0] * d.shape[1]),
    )


@dataclass(frozen=True)
class RedoBounds:
    """Where an honest frame ends against its denoising redone from its own passes: no seed
    noise on either side, only the delivery's rounding (modelled, `rounding_levels2`) and
    what denoising a window apart from the rest of the frame changes (`floor_levels2`: the
    honest windows' mean squared deviation beyond rounding, levels²)."""

    crop_ratio_max: float  # a window's mean squared deviation over the expected
    ratio_max: float  # the windows' together
    crop_bias_max: float  # a window's largest channel mean deviation, levels
    bias_max: float  # the windows' together
    floor_levels2: float


REDO_BOUNDS = RedoBounds(34.39, 9.34, 0.61, 0.37, floor_levels2=0.28)
"""For 8-bit frames (PNG, TIFF), fitted with `bench/verification_redo.py --fit` on the
labelled set's seven scenes rendered with the denoiser, 32 draws of 12 windows each: each
bound the larger of 10 % beyond the honest extreme and the worst scene's mean + 4 standard
deviations (no honest frame of 224 rejected). The fine-texture scene sets them: there
OpenImageDenoise looks further than the 32 pixels around a window (bench/README.md)."""
REDO_JPEG_BOUNDS = RedoBounds(20.74, 9.41, 1.19, 0.36, floor_levels2=1.5)
"""For JPEG frames, fitted the same way on 16 draws (none of 112 rejected): the redone
window is coded as the frame was, and values a little off flip a JPEG's quantized
coefficients, a level or two per pixel."""
REDO_LINEAR_BOUNDS = RedoBounds(54.01, 13.24, 0.67, 0.29, floor_levels2=0.6)
"""For OpenEXR frames (linear light, compared through the display curve, no rounding),
fitted the same way on 16 draws (none of 112 rejected)."""


def redo_bounds(linear: bool, rounded: bool) -> RedoBounds:
    """The bounds for a frame of linear light (OpenEXR), coded as a JPEG, or 8-bit."""
    return REDO_LINEAR_BOUNDS if linear else REDO_JPEG_BOUNDS if rounded else REDO_BOUNDS


def score_redone(
    delivered: np.ndarray,
    redone: np.ndarray,
    *,
    rounding_levels2: float | np.ndarray = 0.0,
    floor_levels2: float = REDO_BOUNDS.floor_levels2,
) -> CropScore:
    """One window of a denoised frame against the denoiser's output redone from the
    delivered passes (values in [0, 1], H × W × C): the mean squared deviation over what
    rounding and the window's edge explain (`noise_ratio`) and the largest channel's mean
    (`bias_levels`). Deterministic: no noise, so no z."""
    if delivered.shape != redone.shape:
        raise ValueError(f"crop shapes differ: {delivered.shape}, {redone.shape}")
    deviation = (delivered.astype(np.float64) - redone) / LEVEL
    expected = float(np.mean(rounding_levels2)) + floor_levels2
    means = deviation.reshape(-1, deviation.shape[-1]).mean(axis=0)
    return CropScore(
        noise_ratio=float(np.mean(deviation**2) / expected),
        noise_z=0.0,
        fine_z=0.0,
        coarse_z=0.0,
        bias_z=0.0,
        bias_levels=float(means[np.argmax(np.abs(means))]),
        noise_level=0.0,
        expected_levels2=expected,
        pixels=int(deviation.shape[0] * deviation.shape[1]),
    )


def judge_redone(
    scores: Sequence[CropScore], bounds: RedoBounds = REDO_BOUNDS, pixels: int | None = None
) -> Judgement:
    """Passed when every window, and the windows together, are what the denoiser made of
    the delivered passes, give or take rounding (the bounds of the windows together widened
    for fewer distinct `pixels` than the set's: `widening`)."""
    reasons = []
    for i, score in enumerate(scores):
        if score.noise_ratio > bounds.crop_ratio_max:
            reasons.append(
                f"crop {i}: {score.noise_ratio:.2f}× the deviation an honest frame has from "
                f"its own passes denoised (at most {bounds.crop_ratio_max:g}): the frame is "
                "not what the denoiser made of the delivered passes"
            )
        if abs(score.bias_levels) > bounds.crop_bias_max:
            reasons.append(
                f"crop {i}: colours off by {score.bias_levels:+.2f} levels from the passes "
                f"denoised (at most {bounds.crop_bias_max:g})"
            )
    weights = [s.expected_levels2 * s.pixels for s in scores]
    total = sum(weights) or 1
    ratio = sum(s.noise_ratio * w for s, w in zip(scores, weights, strict=True)) / total
    bias = sum(s.bias_levels * s.pixels for s in scores) / (sum(s.pixels for s in scores) or 1)
    ratio_max, bias_max = (
        bound * widening(pixels) for bound in (bounds.ratio_max, bounds.bias_max)
    )
    if ratio > ratio_max:
        reasons.append(
            f"the crops together: {ratio:.2f}× the deviation an honest frame has from its "
            f"own passes denoised (at most {ratio_max:.3g}): recompressed or edited"
        )
    if abs(bias) > bias_max:
        reasons.append(
            f"the crops together: colours off by {bias:+.2f} levels from the passes denoised "
            f"(at most {bias_max:.3g})"
        )
    return Judgement(not reasons, ratio, 0.0, 0.0, 0.0, reasons)


def ratio_z(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Σx / Σy, and the paired t statistic of x − y over the blocks: how many standard errors
    Σx is from what an honest crop makes (Σy). The difference is tested at ratio 1, not at
    the measured ratio: a standard error measured at a ratio that itself follows a few noisy
    pixels is too small exactly when those pixels happen to agree."""
    ratio = float(x.sum() / y.sum())
    difference = x - y
    if difference.size < 2:
        return ratio, 0.0
    error = difference.std(ddof=1) * np.sqrt(difference.size)
    total = float(difference.sum())
    if error == 0:
        return ratio, 0.0 if total == 0 else float(np.copysign(np.inf, total))
    return ratio, total / float(error)


def judge(
    scores: Sequence[CropScore],
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
    pixels: int | None = None,
) -> Judgement:
    """Passed when the crops, one by one and together, are consistent with honest noise
    (the crops' distinct `pixels`, when fewer than the set's, widen the ratio bound of the
    crops together: `widening`)."""
    reasons = []
    for i, score in enumerate(scores):
        reasons += _noise_reasons(
            f"crop {i}", score.noise_ratio, score.noise_z, thresholds.crop_z_max, thresholds
        ) or _ratio_reasons(f"crop {i}", score.noise_ratio, thresholds.crop_ratio_max)
        if (
            score.bias_z > thresholds.bias_z_max
            and abs(score.bias_levels) > thresholds.bias_effect_levels
        ):
            reasons.append(
                f"crop {i}: colours off by {score.bias_levels:+.1f} levels, "
                f"{score.bias_z:.1f} standard errors (at most {thresholds.bias_z_max:g})"
            )
    noisy = [s for s in scores if s.noise_z != 0]
    z, fine, coarse = (
        _pooled([getattr(s, name) for s in noisy]) for name in ("noise_z", "fine_z", "coarse_z")
    )
    weights = [s.expected_levels2 * s.pixels for s in scores]
    ratio = sum(s.noise_ratio * w for s, w in zip(scores, weights, strict=True)) / (
        sum(weights) or 1
    )
    if not reasons and len(noisy) > 1:
        reasons += _noise_reasons(
            "the crops together", ratio, z, thresholds.noise_z_max, thresholds
        ) or _ratio_reasons(
            "the crops together", ratio, 1 + (thresholds.ratio_max - 1) * widening(pixels)
        )
    if -fine > thresholds.smooth_z_max:
        reasons.append(
            f"the crops together: too little noise between neighbouring pixels, {-fine:.1f} "
            f"standard errors (at most {thresholds.smooth_z_max:g}): upscaled, denoised or "
            "recompressed"
        )
    if coarse > thresholds.coarse_z_max:
        reasons.append(
            f"the crops together: too much noise between 2×2 squares, {coarse:.1f} standard "
            f"errors (at most {thresholds.coarse_z_max:g}): upscaled or otherwise resampled"
        )
    return Judgement(
        passed=not reasons,
        noise_ratio=ratio,
        noise_z=z,
        fine_z=fine,
        coarse_z=coarse,
        reasons=reasons,
    )


def _pooled(zs: list[float]) -> float:
    """Stouffer's pooling of the crops' z: Σz / √n."""
    return float(sum(zs) / np.sqrt(len(zs))) if zs else 0.0


def _noise_reasons(
    where: str, ratio: float, z: float, z_max: float, thresholds: Thresholds
) -> list[str]:
    if ratio > 1 + thresholds.noise_effect and z > z_max:
        why = "other content or fewer samples"
    elif ratio < 1 - thresholds.noise_effect and z < -z_max:
        why = "denoised, blurred or upscaled"
    else:
        return []
    return [
        f"{where}: {ratio:.2f}× the noise an honest render has there, "
        f"{abs(z):.1f} standard errors off (at most {z_max:g}): {why}"
    ]


def _ratio_reasons(where: str, ratio: float, ratio_max: float) -> list[str]:
    if ratio <= ratio_max:
        return []
    return [
        f"{where}: {ratio:.2f}× the noise an honest render has there (at most {ratio_max:.3g}): "
        "other content or fewer samples"
    ]


def _block_sums(values: np.ndarray, block: int) -> np.ndarray:
    """Sums over block × block squares of an H × W × C array (partial edge blocks dropped)."""
    rows, cols = values.shape[0] // block, values.shape[1] // block
    cut = values[: rows * block, : cols * block].reshape(rows, block, cols, block, -1)
    return cut.sum(axis=(1, 3, 4)).ravel()


def _bias(deviation: np.ndarray) -> tuple[float, float]:
    """The channel whose mean deviation is largest in standard errors of the mean of its
    BLOCK × BLOCK block means: (that many standard errors, the mean)."""
    rows, cols = deviation.shape[0] // BLOCK, deviation.shape[1] // BLOCK
    if rows * cols < 4:
        return 0.0, 0.0
    blocks = deviation[: rows * BLOCK, : cols * BLOCK].reshape(rows, BLOCK, cols, BLOCK, -1)
    means = blocks.mean(axis=(1, 3)).reshape(rows * cols, -1)
    mean = means.mean(axis=0)
    spread = np.maximum(means.std(axis=0, ddof=1) / np.sqrt(rows * cols), LEVEL / 64)
    channel = int(np.argmax(np.abs(mean) / spread))
    return float(abs(mean[channel]) / spread[channel]), float(mean[channel])


def _split(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(fine, coarse) of an H × W × C array: each value minus its 2 × 2 square's mean, and
    the means (an odd last row or column dropped)."""
    h, w = values.shape[0] // 2 * 2, values.shape[1] // 2 * 2
    coarse = values[:h, :w].reshape(h // 2, 2, w // 2, 2, -1).mean(axis=(1, 3))
    fine = values[:h, :w] - coarse.repeat(2, 0).repeat(2, 1)
    return fine, coarse


def _scale_z(
    deviation: np.ndarray, noise: np.ndarray, rounding: float, floor: float, block: int
) -> tuple[float, float]:
    """(fine z, coarse z): `ratio_z`'s z of the noise within 2 × 2 squares and of their means.
    Upscaling, JPEG and a denoiser keep about the right noise per pixel but move it between
    these scales: too little within the squares, too much between them. White variance
    (rounding, floor) splits as white noise does: three quarters within, a quarter between."""
    found = []
    parts = zip(_split(deviation), _split(noise), strict=True)
    for (d, n), share, side in zip(parts, (0.75, 0.25), (block, max(block // 2, 1)), strict=True):
        x = _block_sums(d**2 + share * floor * LEVEL**2, side)
        y = _block_sums(0.75 * n**2 + share * (rounding + floor) * LEVEL**2, side)
        found.append(ratio_z(x, y)[1])
    return found[0], found[1]
