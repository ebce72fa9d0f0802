"""The render before the denoiser, kept beside a denoised frame: Cycles' "Noisy Image" pass,
and the denoiser's guides (its albedo and normal passes).

A denoiser hides how many samples a frame took: a denoised render of half the samples looks
like the job's own. Its input does not: it carries the Monte Carlo noise of the samples
rendered, which `verification.compare` measures. So a worker delivers, with a denoised
frame, the passes its render made (a small OpenEXR: half floats), and the verifier judges
them against its own crops' as it judges a frame rendered without a denoiser, then redoes
the denoising of its windows from them: the frame must be what the denoiser made of them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import OpenEXR

from veriframe_core.exr import ExrUnreadable

NOISY_PASS = "Noisy Image"
ALBEDO_PASS, NORMAL_PASS = "Denoising Albedo", "Denoising Normal"
DELIVERED = {
    NOISY_PASS: ("RGBA", "RGB"),
    ALBEDO_PASS: ("Albedo.RGB",),
    NORMAL_PASS: ("Normal.RGB",),
}
"""Each pass's channels in a delivered file."""
VERSION_ATTRIBUTE = "blenderVersion"
"""The header attribute naming the Blender that rendered the passes: a verifier redoes the
denoising only with the same one (another OpenImageDenoise has other weights)."""


@dataclass(frozen=True)
class Passes:
    """Linear values, H × W × 3 float32, rows from the top."""

    noisy: np.ndarray
    alpha: np.ndarray | None = None  # the noisy image's (H × W): a transparent film's coverage
    albedo: np.ndarray | None = None
    normal: np.ndarray | None = None
    blender_version: str | None = None  # of the render, whose denoiser made the frame

    @property
    def guided(self) -> bool:
        """Whether the denoiser's guides came too (then its output can be redone)."""
        return self.albedo is not None and self.normal is not None


def read_passes(path: Path, noisy: str = NOISY_PASS) -> Passes:
    """The passes of a delivered file (`save_passes`) or of Blender's multilayer one (its
    first view layer's `noisy` pass: "Combined" for a render without the denoiser);
    ExrUnreadable if there is no noisy pass."""
    try:
        with OpenEXR.File(str(path)) as exr:
            channels = {n: c.pixels for part in exr.parts for n, c in part.channels.items()}
            version = exr.header().get(VERSION_ATTRIBUTE)
    except (OSError, RuntimeError, ValueError) as err:
        raise ExrUnreadable(f"{path.name} does not decode as OpenEXR: {err}") from None
    found = _find(channels, DELIVERED[NOISY_PASS], noisy)
    if found is None:
        raise ExrUnreadable(f"{path.name} has no RGB image or {noisy} pass")
    albedo, normal = (
        None if plane is None else plane[..., :3]
        for plane in (_find(channels, DELIVERED[n], n) for n in (ALBEDO_PASS, NORMAL_PASS))
    )
    alpha = found[..., 3] if found.shape[2] > 3 else None
    version = version if isinstance(version, str) else None
    return Passes(found[..., :3], alpha, albedo, normal, version)


def _find(channels: dict, delivered: tuple[str, ...], blender: str) -> np.ndarray | None:
    """A pass as 3 or 4 channels: named one of `delivered` (a delivered file), or Blender's
    `blender` pass of a view layer, grouped (RGB, RGBA) or as its X, Y and Z channels (a
    normal)."""
    for name, pixels in channels.items():
        if name in delivered or name.endswith(f".{blender}"):
            values = np.asarray(pixels, dtype=np.float32)
            if values.ndim == 3 and values.shape[2] >= 3:
                return values[..., :4]
    axes = [name[:-2] for name in channels if name.endswith(f".{blender}.X")]
    if not axes:
        return None
    return np.stack([np.asarray(channels[f"{axes[0]}.{a}"], np.float32) for a in "XYZ"], axis=2)


def read_noisy(path: Path) -> np.ndarray:
    """The noisy pass alone (`read_passes`)."""
    return read_passes(path).noisy


def write_passes(source: Path, path: Path, blender_version: str | None = None) -> Path:
    """The passes of Blender's multilayer `source` a worker delivers, alone (half floats,
    ZIP: a third of the multilayer file's bytes), with the version of the Blender that
    rendered them."""
    return save_passes(replace(read_passes(source), blender_version=blender_version), path)


def save_passes(passes: Passes, path: Path) -> Path:
    """Passes as a delivered file."""
    if passes.alpha is None:
        planes = {"RGB": passes.noisy}
    else:
        planes = {"RGBA": np.dstack([passes.noisy, passes.alpha])}
    for name, plane in ((ALBEDO_PASS, passes.albedo), (NORMAL_PASS, passes.normal)):
        if plane is not None:
            planes[DELIVERED[name][0]] = plane
    channels = {name: plane.astype(np.float16) for name, plane in planes.items()}
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    if passes.blender_version:
        header[VERSION_ATTRIBUTE] = passes.blender_version
    with OpenEXR.File(header, channels) as exr:
        exr.write(str(path))
    return path


def display_values(linear: np.ndarray) -> np.ndarray:
    """Linear values through a fixed display curve (sRGB's, clipped to 0–1), the space the
    comparison's levels are in. Any fixed curve keeps independent renders independent,
    which is all the comparison assumes; this one makes its floors mean what they mean for
    frames."""
    x = np.clip(linear, 0.0, 1.0)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055)
