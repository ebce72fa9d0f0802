"""A candidate second statistic for the verifier, measured by the bench: the noise ratio at
two scales.

Upscaling a smaller render, JPEG and a denoiser keep roughly the right amount of noise per
pixel but move it between scales: upscaled or denoised noise is smooth (too little at the
finest scale, and upscaled too much at the coarse one, where honest noise averages out).
So the deviation D − (A + B)/2 and the references' noise A − B are split into 2 × 2 means
(coarse) and what is left of each pixel around them (fine), and each part gets the
verifier's own ratio and paired z (`compare.ratio_z`), with the 8-bit rounding and the floor
shared out as their white variance is (a quarter to the coarse part, three quarters to the
fine). An honest crop scores about 0 at both scales.
"""

from __future__ import annotations

import numpy as np

from render_executor.verification.compare import LEVEL, ratio_z


def _means(values: np.ndarray) -> np.ndarray:
    """The 2 × 2 means of an H × W × C array (an odd last row or column dropped)."""
    h, w = values.shape[0] // 2 * 2, values.shape[1] // 2 * 2
    return values[:h, :w].reshape(h // 2, 2, w // 2, 2, -1).mean(axis=(1, 3))


def _split(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(fine, coarse): each pixel minus its 2 × 2 mean, and the means."""
    coarse = _means(values)
    fine = values[: coarse.shape[0] * 2, : coarse.shape[1] * 2] - coarse.repeat(2, 0).repeat(2, 1)
    return fine, coarse


def _sums(values: np.ndarray, block: int) -> np.ndarray:
    rows, cols = max(values.shape[0] // block, 1), max(values.shape[1] // block, 1)
    cut = values[: rows * block, : cols * block]
    return cut.reshape(rows, -1, cols, cut.shape[1] // cols, values.shape[2]).sum(axis=(1, 3, 4))


def scale_z(
    delivered: np.ndarray,
    reference_a: np.ndarray,
    reference_b: np.ndarray,
    rounding_levels2: float,
    floor_levels2: float,
    block: int = 1,
) -> tuple[float, float]:
    """(fine z, coarse z) of one crop: how many standard errors the delivery's noise is
    above (+) or below (−) an honest render's at each scale. `block`: pixels summed per
    standard-error sample, as `score_crop`'s (8 when a denoiser mixes neighbours)."""
    d, a, b = (v.astype(np.float64) for v in (delivered, reference_a, reference_b))
    deviation_fine, deviation_coarse = _split(d - (a + b) / 2)
    noise_fine, noise_coarse = _split(a - b)
    delivered_white = floor_levels2 * LEVEL**2
    reference_white = (rounding_levels2 + floor_levels2) * LEVEL**2
    found = []
    for deviation, noise, share, side in (
        (deviation_fine, noise_fine, 0.75, block),
        (deviation_coarse, noise_coarse, 0.25, max(block // 2, 1)),
    ):
        x = _sums(deviation**2 + share * delivered_white, side)
        y = _sums(0.75 * noise**2 + share * reference_white, side)
        found.append(ratio_z(x.ravel(), y.ravel())[1])
    return found[0], found[1]


def pooled(zs: list[float]) -> float:
    """The crops' z together (Stouffer), as the verifier pools its own."""
    return float(sum(zs) / np.sqrt(len(zs))) if zs else 0.0
