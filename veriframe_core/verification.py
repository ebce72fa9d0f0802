"""What a verification re-renders: crop windows and seeds, drawn where the worker cannot see
them coming.

The platform draws them once a delivery's frame and CID are fixed, with the operating
system's CSPRNG (`secrets`), so no worker can render well only where it will be checked.
Windows are squares of a fixed share of the frame each (a few percent of it together), at
least `MIN_SIDE` pixels so a crop holds enough pixels to measure noise on, with sides a
multiple of the comparison's 8-pixel blocks, and never overlapping (a small frame gets
fewer). Of K windows, half are drawn here; the verifier places as many again where a cheap
preview of the whole frame disagrees most with the delivery
(`render_executor.verification.verifier`). Seeds are the verifier's own two Cycles seeds:
its two renders of a window differ only by Monte Carlo noise, which is how it knows how
much noise an honest frame has there.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass
from random import Random

from pydantic import BaseModel, Field

DEFAULT_CROPS = 12
DEFAULT_SHARE = 0.01
"""The frame's share the windows cover together (before any overlap)."""
MIN_SIDE = 32
BLOCK = 8  # sides are multiples of the comparison's blocks
SEED_LIMIT = 2**31 - 1  # Cycles' seed is a signed 32-bit int


class Window(BaseModel, frozen=True):
    """A rectangle of the frame in pixels, from its top-left corner (image coordinates)."""

    x: int = Field(ge=0)
    y: int = Field(ge=0)
    width: int = Field(gt=0)
    height: int = Field(gt=0)

    def fits(self, width: int, height: int) -> bool:
        return self.x + self.width <= width and self.y + self.height <= height


@dataclass(frozen=True)
class Draw:
    """The windows and the two seeds of one verification."""

    windows: tuple[Window, ...]
    seeds: tuple[int, int]


def window_side(width: int, height: int, count: int, share: float) -> int:
    """The side of each of `count` square windows covering `share` of a frame together."""
    side = round(math.sqrt(share * width * height / count) / BLOCK) * BLOCK
    return min(max(side, MIN_SIDE), width, height)


def draw(
    width: int,
    height: int,
    count: int = DEFAULT_CROPS,
    share: float = DEFAULT_SHARE,
    rng: Random | None = None,
) -> Draw:
    """The drawn half of `count` windows of a `width` × `height` frame (`count` − `count`
    // 2 of them, sized for `count`; the verifier places the rest), which do not overlap,
    and two distinct seeds, from `rng` (the CSPRNG unless a test passes a seeded one). The
    windows are cells of a grid laid at a random offset; a frame with fewer cells gets one
    window per cell (overlapping windows would count the same pixels twice)."""
    if count < 1:
        raise ValueError("at least one crop window")
    if not 0 < share <= 1:
        raise ValueError("the windows' share of the frame is between 0 and 1")
    rng = rng or secrets.SystemRandom()
    side = window_side(width, height, count, share)
    columns, rows = width // side, height // side
    left, top = rng.randrange(width - columns * side + 1), rng.randrange(height - rows * side + 1)
    cells = rng.sample(range(columns * rows), min(count - count // 2, columns * rows))
    windows = tuple(
        Window(x=left + c % columns * side, y=top + c // columns * side, width=side, height=side)
        for c in sorted(cells)
    )
    first = rng.randrange(1, SEED_LIMIT)
    second = rng.randrange(1, SEED_LIMIT - 1)
    return Draw(windows, (first, second + (second >= first)))
