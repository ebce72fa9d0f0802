"""A rendered frame, checked without trusting whoever made it: it exists, decodes, has the
requested size and is not blank. The agent checks its own render with it, and the
platform's asset check re-checks the frame it downloads from IPFS."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError


class FrameRejected(ValueError):
    """The frame Blender wrote is not a render of what was asked."""


@dataclass(frozen=True)
class Frame:
    path: Path
    width: int
    height: int
    format: str
    size_bytes: int


def check_frame(path: Path, width: int, height: int) -> Frame:
    """The frame at `path`, if it decodes, has `width` × `height` pixels and is not one flat
    colour; FrameRejected saying which of these fails."""
    if not path.is_file() or path.stat().st_size == 0:
        raise FrameRejected(f"Blender wrote no frame at {path.name}")
    try:
        with Image.open(path) as image:
            image.verify()  # structure and checksums
        with Image.open(path) as image:
            image.load()  # every pixel decodes
            size, kind = image.size, image.format
            extrema = image.convert("RGBA").getextrema()
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise FrameRejected(f"the frame {path.name} does not decode: {err}") from None
    if size != (width, height):
        raise FrameRejected(
            f"the frame is {size[0]}×{size[1]} pixels, {width}×{height} were asked for"
        )
    if all(low == high for low, high in extrema):
        raise FrameRejected("the frame is blank: every pixel has the same colour")
    return Frame(path, width, height, kind or "", path.stat().st_size)
