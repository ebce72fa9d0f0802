"""The render before the denoiser (Cycles' "Noisy Image" pass), kept beside a denoised frame.

A denoiser hides how many samples a frame took: a denoised render of half the samples looks
like the job's own. Its input does not: it carries the Monte Carlo noise of the samples
rendered, which `verification.compare` measures. So a worker delivers, with a denoised
frame, the noisy pass its render made (a small OpenEXR: RGB, half floats), and the verifier
judges that pass against its own crops' noisy passes as it judges a frame rendered without
a denoiser.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import OpenEXR

NOISY_PASS = "Noisy Image"


class PassUnreadable(ValueError):
    """The file is not an OpenEXR with a noisy pass."""


def read_noisy(path: Path) -> np.ndarray:
    """The noisy pass's linear RGB (H × W × 3 float32, rows from the top), from Blender's
    multilayer file (the layer's "Noisy Image") or from a delivered pass (`write_noisy`)."""
    try:
        with OpenEXR.File(str(path)) as exr:
            for part in exr.parts:
                for name, channel in part.channels.items():
                    if name in ("RGB", "RGBA") or name.endswith(f".{NOISY_PASS}"):
                        return np.asarray(channel.pixels[..., :3], dtype=np.float32)
    except (OSError, RuntimeError, ValueError) as err:
        raise PassUnreadable(f"{path.name} is not an OpenEXR file: {err}") from None
    raise PassUnreadable(f"{path.name} has no {NOISY_PASS} pass")


def write_noisy(source: Path, path: Path) -> Path:
    """The noisy pass of Blender's multilayer `source` alone, as the file a worker delivers
    (RGB half floats, ZIP: a twentieth of the multilayer file's channels)."""
    pixels = read_noisy(source).astype(np.float16)
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    with OpenEXR.File(header, {"RGB": pixels}) as exr:
        exr.write(str(path))
    return path


def display_values(linear: np.ndarray) -> np.ndarray:
    """Linear values through a fixed display curve (sRGB's, clipped to 0–1), the space the
    comparison's levels are in. Any fixed curve keeps independent renders independent,
    which is all the comparison assumes; this one makes its floors mean what they mean for
    frames."""
    x = np.clip(linear, 0.0, 1.0)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055)
