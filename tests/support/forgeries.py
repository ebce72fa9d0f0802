"""Forged frames, for the verification bench's labelled set and the tests' cheating agent.

Two sorts. Image-level forgeries are plain functions from a PNG (an honest frame, or another
job's) to the forged PNG: flat, noise, shift, JPEG, colour and hue shifts, upscaling a
smaller render, replaying another frame. Render-level forgeries cost the cheater less render
(fewer samples, a denoised cheap render, a smaller size) or show something else (another frame
of the animation, the camera turned): a `RenderChange` says what to change from the job's
settings, and whoever renders applies it (`render_settings` gives the keys the bench's bpy
script takes). Every function keeps the frame's size and mode (RGBA stays RGBA, alpha kept)
so a forgery passes the frame checks that come before verification.
"""

from __future__ import annotations

import io
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance


def _load(src: Path) -> Image.Image:
    with Image.open(src) as image:
        image.load()
        return image


def _save(image: Image.Image, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    image.save(dst, format="PNG")


def _with_colour(original: Image.Image, rgb: Image.Image) -> Image.Image:
    """`rgb` with the original's alpha back, when it had one."""
    if original.mode == "RGBA":
        rgb = rgb.convert("RGBA")
        rgb.putalpha(original.getchannel("A"))
    return rgb


def _write_rgb(original: Image.Image, rgb: np.ndarray, dst: Path) -> None:
    pixels = np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
    _save(_with_colour(original, Image.fromarray(pixels, "RGB")), dst)


def _rgb(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.float64)


def flat(src: Path, dst: Path, level: float | None = None) -> None:
    """One colour over the whole frame: grey `level` (0-255), or the frame's mean colour."""
    image = _load(src)
    rgb = _rgb(image)
    colour = rgb.reshape(-1, 3).mean(axis=0) if level is None else np.full(3, level)
    _write_rgb(image, np.broadcast_to(colour, rgb.shape), dst)


def noise(src: Path, dst: Path, seed: int, matched: bool = False) -> None:
    """Random pixels: uniform over 0-255, or (`matched`) Gaussian with the frame's mean and
    spread per channel, which a check of the frame's statistics alone would not tell."""
    image = _load(src)
    rgb = _rgb(image)
    rng = np.random.default_rng(seed)
    if matched:
        flat_rgb = rgb.reshape(-1, 3)
        values = rng.normal(flat_rgb.mean(axis=0), flat_rgb.std(axis=0) + 1e-6, rgb.shape)
    else:
        values = rng.uniform(0, 256, rgb.shape)
    _write_rgb(image, values, dst)


def shift(src: Path, dst: Path, dx: int, dy: int = 0) -> None:
    """The frame moved by (dx, dy) pixels, its edge rows and columns repeated into the gap."""
    image = _load(src)
    pixels = np.asarray(image)
    height, width = pixels.shape[:2]
    rows = np.clip(np.arange(height) - dy, 0, height - 1)
    cols = np.clip(np.arange(width) - dx, 0, width - 1)
    _save(Image.fromarray(pixels[rows][:, cols], image.mode), dst)


def jpeg(src: Path, dst: Path, quality: int) -> None:
    """The frame through a JPEG of `quality`, saved back as PNG."""
    image = _load(src)
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    _save(_with_colour(image, Image.open(buffer).convert("RGB")), dst)


def colour_shift(src: Path, dst: Path, levels: float, channel: int = 0) -> None:
    """`levels` (of 255) added to one channel (0 red, 1 green, 2 blue)."""
    image = _load(src)
    rgb = _rgb(image)
    rgb[..., channel] += levels
    _write_rgb(image, rgb, dst)


def hue_saturation(src: Path, dst: Path, hue_deg: float = 0.0, saturation: float = 1.0) -> None:
    """Hue turned by `hue_deg` and saturation scaled by `saturation`."""
    image = _load(src)
    rgb = ImageEnhance.Color(image.convert("RGB")).enhance(saturation)
    hsv = np.asarray(rgb.convert("HSV")).copy()
    hsv[..., 0] = (hsv[..., 0].astype(np.int32) + round(hue_deg / 360 * 256)) % 256
    _save(_with_colour(image, Image.fromarray(hsv, "HSV").convert("RGB")), dst)


def upscale(src: Path, dst: Path, size: tuple[int, int]) -> None:
    """A smaller render brought to `size` (width, height) with Pillow's bicubic filter."""
    _save(_load(src).resize(size, Image.Resampling.BICUBIC), dst)


def replay(src: Path, dst: Path, size: tuple[int, int]) -> None:
    """Another frame (another job's, another scene's) delivered as this one, resized when its
    size differs so it passes the size check."""
    image = _load(src)
    if image.size == size:
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
    else:
        _save(image.resize(size, Image.Resampling.BICUBIC), dst)


@dataclass(frozen=True)
class RenderChange:
    """A forgery made in the render: what differs from the job's settings.

    `samples` (absolute) wins over `samples_factor`; `resolution_percentage` below 100 means
    a smaller render that `upscale` brings back to the job's size.
    """

    samples_factor: float = 1.0
    samples: int | None = None
    denoise: bool | None = None
    frame_offset: int = 0
    camera_turn_deg: float = 0.0
    resolution_percentage: int = 100

    def render_settings(self, frame: int) -> dict[str, object]:
        """The keys of the bench's bpy script (`bench/verification_scenes.py`) for this change
        to a render of `frame`; the job's own settings for what is not changed."""
        settings: dict[str, object] = {"frame": frame + self.frame_offset}
        if self.samples is not None:
            settings["samples"] = self.samples
        elif self.samples_factor != 1.0:
            settings["samples_factor"] = self.samples_factor
        if self.denoise is not None:
            settings["denoise"] = self.denoise
        if self.camera_turn_deg:
            settings["camera_turn_deg"] = self.camera_turn_deg
        if self.resolution_percentage != 100:
            settings["resolution_percentage"] = self.resolution_percentage
        return settings


RENDER_FORGERIES: dict[str, dict[str, RenderChange]] = {
    "fewer samples": {f"÷{d}": RenderChange(samples_factor=1 / d) for d in (2, 4, 8)},
    "cheap render + denoiser": {
        "1 sample": RenderChange(samples=1, denoise=True),
        "÷4 samples": RenderChange(samples_factor=0.25, denoise=True),
    },
    "upscaled": {f"from {p} %": RenderChange(resolution_percentage=p) for p in (75, 50)},
    "camera turned": {f"{d}°": RenderChange(camera_turn_deg=d) for d in (0.5, 2.0)},
    "other frame": {f"+{n}": RenderChange(frame_offset=n) for n in (1, 5)},
    "replayed": {
        "same scene, other job": RenderChange(frame_offset=-5, samples_factor=2.0),
    },
}
"""Kind → strength → change, as the issue lists them ("another job's frame replayed" of the
same scene here; of another scene it is `replay` of that scene's frame)."""
