"""A rendered frame, checked without trusting whoever made it: it exists, decodes, has the
requested size and is not blank. The agent checks its own render with it, and the
platform's asset check re-checks the frame it downloads from IPFS. PNG, JPEG and TIFF decode
with Pillow, OpenEXR (single layer or multilayer) with the OpenEXR package."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from veriframe_core.exr import ExrUnreadable, exr_size, is_exr, read_rgb


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
    size, kind, flat = _exr(path, width, height) if is_exr(path) else _decoded(path)
    if size != (width, height):
        raise FrameRejected(
            f"the frame is {size[0]}×{size[1]} pixels, {width}×{height} were asked for"
        )
    if flat:
        raise FrameRejected("the frame is blank: every pixel has the same colour")
    return Frame(path, width, height, kind or "", path.stat().st_size)


def _decoded(path: Path) -> tuple[tuple[int, int], str | None, bool]:
    """Size, format and whether every pixel has one colour, by Pillow."""
    try:
        with Image.open(path) as image:
            image.verify()  # structure and checksums
        with Image.open(path) as image:
            image.load()  # every pixel decodes
            extrema = image.convert("RGBA").getextrema()
            return image.size, image.format, all(low == high for low, high in extrema)
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise FrameRejected(f"the frame {path.name} does not decode: {err}") from None


def _exr(path: Path, width: int, height: int) -> tuple[tuple[int, int], str, bool]:
    """The same of an OpenEXR frame (its image, or a multilayer file's Combined pass), its
    pixels decoded only when its header has the size asked for."""
    try:
        size = exr_size(path)
        if size != (width, height):
            return size, "OPEN_EXR", False
        pixels = read_rgb(path)
    except ExrUnreadable as err:
        raise FrameRejected(f"the frame {err}") from None
    if not np.isfinite(pixels).all():
        raise FrameRejected(f"the frame {path.name} has pixels that are not numbers (NaN, ∞)")
    return (pixels.shape[1], pixels.shape[0]), "OPEN_EXR", bool((pixels == pixels[0, 0]).all())
