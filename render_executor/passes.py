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

from veriframe_core.exr import read_rgb

NOISY_PASS = "Noisy Image"


def read_noisy(path: Path) -> np.ndarray:
    """The noisy pass's linear RGB (H × W × 3 float32, rows from the top), from Blender's
    multilayer file (the layer's "Noisy Image") or from a delivered pass (`write_noisy`);
    ExrUnreadable if it is neither."""
    return read_rgb(path, NOISY_PASS)


def write_noisy(source: Path, path: Path) -> Path:
    """The noisy pass of Blender's multilayer `source` alone, as the file a worker delivers
    (RGB half floats, ZIP: a third of the multilayer file's bytes)."""
    return save_noisy(read_noisy(source), path)


def save_noisy(pixels: np.ndarray, path: Path) -> Path:
    """Linear RGB values (H × W × 3) as a delivered noisy pass."""
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    with OpenEXR.File(header, {"RGB": pixels.astype(np.float16)}) as exr:
        exr.write(str(path))
    return path


def display_values(linear: np.ndarray) -> np.ndarray:
    """Linear values through a fixed display curve (sRGB's, clipped to 0–1), the space the
    comparison's levels are in. Any fixed curve keeps independent renders independent,
    which is all the comparison assumes; this one makes its floors mean what they mean for
    frames."""
    x = np.clip(linear, 0.0, 1.0)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055)
