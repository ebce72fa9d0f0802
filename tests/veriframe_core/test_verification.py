"""The crop windows and seeds a verification draws."""

from random import Random

import pytest

from veriframe_core.verification import BLOCK, MIN_SIDE, draw, window_side


@pytest.mark.parametrize("size", [(1920, 1080), (320, 240), (64, 40), (4096, 2160)])
def test_half_the_windows_are_drawn_inside_the_frame_sized_for_the_share(size):
    width, height = size
    drawn = draw(width, height, count=8, share=0.02, rng=Random(1))
    side = drawn.windows[0].width
    assert len(drawn.windows) == min(4, (width // side) * (height // side))  # the verifier: 4
    assert all(w.fits(width, height) for w in drawn.windows)
    for i, a in enumerate(drawn.windows):  # no pixel in two windows
        for b in drawn.windows[i + 1 :]:
            assert (
                a.x + a.width <= b.x
                or b.x + b.width <= a.x
                or (a.y + a.height <= b.y or b.y + b.height <= a.y)
            )
    assert all(w.width == w.height == side for w in drawn.windows)
    if side >= MIN_SIDE:  # not clipped to a tiny frame
        assert side % BLOCK == 0
    if width * height >= 1920 * 1080:
        covered = 8 * side * side / (width * height)
        assert 0.015 < covered < 0.025


def test_tiny_frames_still_get_windows_of_min_side_but_fewer():
    assert window_side(320, 240, 8, 0.02) == MIN_SIDE
    assert window_side(20, 10, 8, 0.02) == 10  # never larger than the frame
    assert len(draw(64, 48, count=8, rng=Random(2)).windows) == 2  # two 32-px cells fit
    assert len(draw(640, 480, count=1, rng=Random(2)).windows) == 1  # and one guided


def test_seeds_are_two_distinct_cycles_seeds_and_the_draw_is_not_predictable():
    draws = [draw(1920, 1080) for _ in range(50)]  # the CSPRNG
    for drawn in draws:
        first, second = drawn.seeds
        assert first != second
        assert 0 < first < 2**31 and 0 < second < 2**31
    assert len({d.windows for d in draws}) == 50
    assert len({d.seeds for d in draws}) == 50


def test_a_seeded_draw_repeats():
    assert draw(800, 600, rng=Random(7)) == draw(800, 600, rng=Random(7))


@pytest.mark.parametrize(("count", "share"), [(0, 0.02), (4, 0), (4, 1.5)])
def test_bad_draws_are_refused(count, share):
    with pytest.raises(ValueError):
        draw(800, 600, count, share)
