"""Reading OpenEXR frames (single layer, or Blender's multilayer files) as linear RGB.

A render written as OpenEXR keeps the scene's linear light, before any view transform: the
frame checks and the verifier read it here, with the OpenEXR package (Pillow has no EXR
decoder).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import OpenEXR

MAGIC = b"\x76\x2f\x31\x01"
COMBINED = "Combined"


class ExrUnreadable(ValueError):
    """The file is not an OpenEXR image with the layer asked for."""


def is_exr(path: Path) -> bool:
    with open(path, "rb") as file:
        return file.read(4) == MAGIC


def exr_size(path: Path) -> tuple[int, int]:
    """The largest width and height of the file's parts, from their headers alone: what a
    reader checks before decoding pixels (a small compressed file can claim a huge image)."""
    try:
        with OpenEXR.File(str(path), header_only=True) as exr:
            windows = [part.header["dataWindow"] for part in exr.parts]
    except (OSError, RuntimeError, ValueError, KeyError) as err:
        raise ExrUnreadable(f"{path.name} does not decode as OpenEXR: {err}") from None
    width = max(int(high[0] - low[0]) + 1 for low, high in windows)
    height = max(int(high[1] - low[1]) + 1 for low, high in windows)
    return width, height


def read_rgb(path: Path, layer: str = COMBINED) -> np.ndarray:
    """The image's linear RGB (H × W × 3 float32, rows from the top): a single layer's RGB(A)
    channels, or in a multilayer file the channels of its pass named `layer` (in Blender's
    files "<view layer>.<pass>"), the first view layer's."""
    try:
        with OpenEXR.File(str(path)) as exr:
            channels = [c for part in exr.parts for c in part.channels.items()]
    except (OSError, RuntimeError, ValueError) as err:
        raise ExrUnreadable(f"{path.name} does not decode as OpenEXR: {err}") from None
    for name, channel in channels:
        if name in ("RGB", "RGBA") or name.endswith(f".{layer}"):
            pixels = np.asarray(channel.pixels, dtype=np.float32)
            if pixels.ndim == 3 and pixels.shape[2] >= 3:
                return pixels[..., :3]
    raise ExrUnreadable(f"{path.name} has no RGB image or {layer} pass")
