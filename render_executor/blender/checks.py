"""What makes a render a success, re-checked outside Blender: the frame exists, decodes, has
the requested size and is not blank, and Blender's log shows no GPU error."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

GPU_ERROR = re.compile(
    r"(?im)^.*("
    r"\b(cuda|optix|hip|oneapi|metal)\b.*\b(error|failed to|illegal|out of memory)"
    r"|out of (gpu|device|video) memory"
    r"|gpu (device )?(error|lost|hang)"
    r").*$"
)
"""A GPU failure Blender logs but may survive (falling back, or saving a broken frame).
The library probes of a machine without that backend ("CUEW initialization failed") are not."""
_PROBE = re.compile(r"(?i)\b(cuew|hipew)\b.*initialization failed")


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


def gpu_errors(log: str) -> list[str]:
    """The lines of Blender's log that report a GPU failure."""
    return [
        match.group(0).strip()
        for match in GPU_ERROR.finditer(log)
        if not _PROBE.search(match.group(0))
    ]
