"""The noise-aware comparison on crops whose noise is known: drawn from distributions, so
the statistics' behaviour under honest and forged noise is what is tested, not a scene."""

from dataclasses import replace

import numpy as np
import pytest

from render_executor.verification.compare import (
    REFERENCE_PIXELS,
    CropScore,
    Thresholds,
    judge,
    judge_redone,
    rounding_variance,
    score_crop,
)

SIZE = (64, 64, 3)


def renders(rng, truth, sigma, count):
    """`count` independent 8-bit renders of `truth` with Gaussian noise `sigma` (0–1)."""
    return [
        np.clip(np.round((truth + rng.normal(0, sigma, SIZE)) * 255), 0, 255) / 255
        for _ in range(count)
    ]


@pytest.fixture
def scene():
    rng = np.random.default_rng(5)
    gradient = np.linspace(0.2, 0.8, SIZE[1])[None, :, None]
    return rng, np.broadcast_to(gradient, SIZE).copy()


def test_an_honest_crop_scores_about_one(scene):
    rng, truth = scene
    for _ in range(20):
        delivered, a, b = renders(rng, truth, 0.03, 3)
        score = score_crop(delivered, a, b)
        assert 0.9 < score.noise_ratio < 1.1
        assert abs(score.noise_z) < 4
        assert score.noise_level == pytest.approx(0.03 * 255, rel=0.1)
        assert judge([score]).passed


def test_fewer_samples_means_more_noise_and_is_rejected(scene):
    rng, truth = scene
    a, b = renders(rng, truth, 0.03, 2)
    (cheap,) = renders(rng, truth, 0.03 * np.sqrt(2), 1)  # half the samples
    score = score_crop(cheap, a, b)
    assert 1.5 < score.noise_ratio < 1.8  # (2 + 0.5) / 1.5 σ²
    verdict = judge([score])
    assert not verdict.passed
    assert "fewer samples" in verdict.reasons[0]


def test_a_denoised_crop_has_too_little_noise_and_is_rejected(scene):
    rng, truth = scene
    a, b = renders(rng, truth, 0.03, 2)
    smooth = np.round(truth * 255) / 255
    score = score_crop(smooth, a, b)
    assert score.noise_ratio < 0.8
    verdict = judge([score])
    assert not verdict.passed
    assert "denoised" in verdict.reasons[0]


def test_a_colour_shift_is_rejected_by_its_bias(scene):
    rng, truth = scene
    delivered, a, b = renders(rng, truth, 0.03, 3)
    delivered[..., 0] = np.clip(delivered[..., 0] + 3 / 255, 0, 1)
    score = score_crop(delivered, a, b)
    assert score.bias_levels == pytest.approx(3, abs=0.5)
    verdict = judge([score])
    assert not verdict.passed
    assert any("colours off" in r for r in verdict.reasons)


def test_a_noiseless_crop_equal_to_the_references_passes():
    flat = np.full(SIZE, 100 / 255)
    score = score_crop(flat, flat, flat)
    assert score.noise_ratio == 1 and score.noise_z == 0
    assert judge([score]).passed


def test_the_rounding_a_delivery_has_depends_on_the_level_and_none_when_clipped():
    levels = np.array([0.0, 10.0, 10.5, 10.95, 255.0, 260.0]) / 255
    variance = rounding_variance(levels, dither=1.0)
    assert variance[0] == 0 and variance[4] == 0 and variance[5] == 0  # clipped
    assert variance[1] == pytest.approx(0.167) and variance[2] == pytest.approx(0.248)
    assert variance[1] < variance[2] and variance[3] < variance[2]
    assert rounding_variance(levels, dither=0.0)[1] == pytest.approx(1 / 12)


def test_an_upscaled_crop_has_its_noise_at_the_wrong_scale_and_is_rejected(scene):
    rng, truth = scene
    a, b = renders(rng, truth, 0.03, 2)
    (small,) = renders(rng, truth, 0.03, 1)
    half = small[::2, ::2]  # rendered at half the size, then blown up 2×
    upscaled = half.repeat(2, 0).repeat(2, 1)
    verdict = judge([score_crop(upscaled, a, b)])
    assert not verdict.passed
    assert verdict.coarse_z > 3.9 and verdict.fine_z < -5


def test_one_firefly_decides_nothing(scene):
    rng, truth = scene
    delivered, a, b = renders(rng, truth, 0.03, 3)
    delivered[10, 10] = 1.0
    assert judge([score_crop(delivered, a, b)]).passed


def test_a_cheat_spread_thinly_over_all_crops_is_caught_together(scene):
    rng, truth = scene
    scores = []
    for _ in range(8):
        a, b = renders(rng, truth, 0.03, 2)
        (slightly_cheap,) = renders(rng, truth, 0.03 * 1.08, 1)
        scores.append(score_crop(slightly_cheap, a, b))
    lenient_per_crop = Thresholds(crop_z_max=100, noise_effect=0.0)
    verdict = judge(scores, lenient_per_crop)
    assert verdict.noise_z > lenient_per_crop.noise_z_max
    assert not verdict.passed
    assert "together" in verdict.reasons[0]


def test_a_verdict_on_few_pixels_has_wider_bounds_together():
    """A tiny frame's windows overlap: its few distinct pixels make the ratio of the crops
    together spread more (an honest 64×48 frame scored 1.47 against a bound of 1.34)."""
    crop = CropScore(1.47, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 4.0, 1024)
    reasons = judge([crop, crop], pixels=REFERENCE_PIXELS).reasons
    assert reasons and reasons[0].startswith("the crops together: 1.47×")
    assert judge([crop, crop], pixels=2048).passed  # bound 1 + 0.34 × √6 ≈ 1.83
    assert not judge([replace(crop, noise_ratio=2.0)] * 2, pixels=2048).passed


def test_a_redone_verdict_on_few_pixels_has_wider_bounds_together():
    window = CropScore(1.0, 0.0, 0.0, 0.0, 0.0, 0.5, 0.0, 0.5, 1024)  # +0.5 levels each
    assert not judge_redone([window, window], pixels=REFERENCE_PIXELS).passed  # at most 0.37
    assert judge_redone([window, window], pixels=2048).passed  # 0.37 × √6 ≈ 0.91


def test_crops_of_other_shapes_are_an_error():
    with pytest.raises(ValueError, match="shapes differ"):
        score_crop(np.zeros((8, 8, 3)), np.zeros((8, 8, 3)), np.zeros((8, 9, 3)))


def test_far_more_noise_than_honest_is_a_reason_however_uncertain_the_z(scene):
    """The ratio bounds hold where the z bounds are wide (a denoiser's correlated noise)."""
    rng, truth = scene
    z_open = Thresholds(crop_z_max=np.inf, noise_z_max=np.inf)
    a, b, honest = renders(rng, truth, 0.03, 3)
    (other,) = renders(rng, truth, 0.03 * 3, 1)  # (9 + 0.5) / 1.5 σ²: about 6.3×
    assert judge([score_crop(honest, a, b)], z_open).passed
    verdict = judge([score_crop(other, a, b)], z_open)
    assert not verdict.passed
    assert f"at most {z_open.crop_ratio_max:g}" in verdict.reasons[0]
