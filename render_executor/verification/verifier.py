"""Verifying a delivered frame by re-rendering crops of it: what verifier agents and
`veriframe verify` run.

The windows and seeds are given (drawn by the platform once the delivery was fixed, or by
`veriframe_core.verification.draw` for a local check), and as many windows again are placed
by the verifier where a cheap preview of the whole frame disagrees most with the delivery
(`inside.guided_windows`): the drawn ones keep every part of the frame at risk, the guided
ones find a change that is local (another frame of a nearly static shot, a replayed frame, a
small shift). Verifying the same delivery again renders the same pixels and reaches the
same verdict: Cycles' noise at a seed depends on the pixel, not on the tiles, threads or
border, and the preview is rendered at the first seed.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from render_executor.blender.runner import (
    BlenderRunner,
    Cancel,
    CropGuide,
    CropRender,
    RenderJob,
    RenderLimits,
)
from render_executor.verification.compare import (
    BLOCK,
    DEFAULT_THRESHOLDS,
    DENOISED_THRESHOLDS,
    CropScore,
    Thresholds,
    judge,
    rounding_variance,
    score_crop,
)
from veriframe_core.protocol import CropScoreOut, VerificationReport
from veriframe_core.verification import Window

MARGIN = 16
"""Pixels rendered around a window when the denoiser or compositor looks at neighbours."""


class FrameUnreadable(ValueError):
    """The delivered frame does not decode as an image."""


@dataclass(frozen=True)
class Verdict:
    """A verification's outcome and everything that led to it."""

    passed: bool
    reasons: list[str]
    windows: list[Window]  # drawn
    seeds: tuple[int, int]
    scores: list[CropScore]  # the drawn windows', then the guided ones'
    noise_ratio: float  # the crops together
    noise_z: float
    noise_level: float  # median of the crops' reference noise, 8-bit levels
    seconds: float
    cpu_seconds: float  # Blender's, for the crops
    device: str
    blender_version: str
    comparison: Path | None = None  # each crop as delivered beside the verifier's (PNG)
    guided: list[Window] = field(default_factory=list)  # placed by the verifier

    def report(self) -> VerificationReport:
        """The verdict as a verifier reports it to the API."""
        return VerificationReport(
            verdict="verified" if self.passed else "rejected",
            reasons=self.reasons,
            crops=[CropScoreOut(**asdict(s)) for s in self.scores],
            noise_ratio=self.noise_ratio,
            noise_z=self.noise_z,
            noise_level=self.noise_level,
            seconds=self.seconds,
            cpu_seconds=self.cpu_seconds,
            device=self.device,
            blender_version=self.blender_version,
            guided=self.guided,
        )

    def to_dict(self) -> dict:
        """The report, with the windows and seeds it was made on (`veriframe verify --json`)."""
        return {
            **self.report().model_dump(mode="json"),
            "passed": self.passed,
            "windows": [w.model_dump() for w in self.windows],
            "seeds": list(self.seeds),
        }


def read_frame(path: Path) -> np.ndarray:
    """The frame's RGB values in [0, 1] (H × W × 3); FrameUnreadable if it does not decode."""
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"), dtype=np.float32) / 255
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise FrameUnreadable(f"{path.name} does not decode as an image: {err}") from None


def _read_crop(path: Path, window: Window) -> np.ndarray:
    """A rendered window's RGB display values (`BlenderRunner.render_crops`)."""
    rgba = np.fromfile(path, dtype=np.float32).reshape(window.height, window.width, 4)
    return np.clip(rgba[..., :3], 0, 1)


def _cut(frame: np.ndarray, window: Window) -> np.ndarray:
    return frame[window.y : window.y + window.height, window.x : window.x + window.width]


def verify_frame(
    runner: BlenderRunner,
    job: RenderJob,
    delivered: Path,
    windows: Sequence[Window],
    seeds: tuple[int, int],
    scratch: Path,
    thresholds: Thresholds | None = None,
    limits: RenderLimits | None = None,
    cancel: Cancel | None = None,
) -> Verdict:
    """Render `windows` of `job` at both `seeds` and judge `delivered` against them (by
    `thresholds`, or those fitted for frames with or without a denoiser). A frame of another
    size is rejected without rendering; RenderFailed if the scene does not render (or
    `cancel` was set), FrameUnreadable if the delivery is not an image."""
    started = time.perf_counter()
    frame = read_frame(delivered)
    width, height = job.resolution
    if frame.shape[:2] != (height, width):
        return rejected_unrendered(
            f"the frame is {frame.shape[1]}×{frame.shape[0]} pixels; "
            f"the job asked for {width}×{height}",
            windows,
            seeds,
            started,
        )
    for window in windows:
        if not window.fits(width, height):
            raise ValueError(f"window {window} is outside the {width}×{height} frame")
    crops = [CropRender(w, seed) for w in windows for seed in seeds]
    guide = CropGuide(delivered, len(windows), windows[0].width, seeds) if windows else None
    rendered = runner.render_crops(
        job, crops, scratch, MARGIN, limits or RenderLimits(), cancel, guide
    )
    denoised = rendered.margin > 0  # a denoiser or compositor mixed neighbouring pixels
    if thresholds is None:
        thresholds = DENOISED_THRESHOLDS if denoised else DEFAULT_THRESHOLDS
    scores, rows = [], []
    for i, window in enumerate([*windows, *rendered.guided]):
        first, second = (_read_crop(p, window) for p in rendered.images[2 * i : 2 * i + 2])
        rows.append((_cut(frame, window), first))
        scores.append(
            score_crop(
                _cut(frame, window),
                first,
                second,
                rounding_levels2=rounding_variance((first + second) / 2, rendered.dither),
                floor_levels2=thresholds.floor_levels2,
                block=BLOCK if denoised else 1,
            )
        )
    judgement = judge(scores, thresholds)
    comparison = scratch / "comparison.png"
    side_by_side(rows).save(comparison)
    return Verdict(
        passed=judgement.passed,
        reasons=judgement.reasons,
        windows=list(windows),
        seeds=seeds,
        scores=scores,
        noise_ratio=judgement.noise_ratio,
        noise_z=judgement.noise_z,
        noise_level=float(np.median([s.noise_level for s in scores])),
        seconds=time.perf_counter() - started,
        cpu_seconds=rendered.cpu_seconds,
        device=rendered.device,
        blender_version=rendered.blender_version,
        comparison=comparison,
        guided=rendered.guided,
    )


def side_by_side(rows: Sequence[tuple[np.ndarray, np.ndarray]], gap: int = 4) -> Image.Image:
    """Each crop as delivered beside the verifier's render of it (one row per window, at
    least 64 px tall), for people to look at: what the verdict was about."""
    scale = max(1, -(-64 // max(d.shape[0] for d, _ in rows)))
    width = max(2 * d.shape[1] * scale + gap for d, _ in rows)
    height = sum(d.shape[0] * scale + gap for d, _ in rows)
    sheet = Image.new("RGB", (width, height), (32, 32, 32))
    top = 0
    for delivered, reference in rows:
        for column, pixels in enumerate((delivered, reference)):
            tile = Image.fromarray(np.round(pixels * 255).astype(np.uint8))
            tile = tile.resize((tile.width * scale, tile.height * scale), Image.NEAREST)
            sheet.paste(tile, (column * (tile.width + gap), top))
        top += delivered.shape[0] * scale + gap
    return sheet


def rejected_unrendered(
    reason: str, windows: Sequence[Window], seeds: tuple[int, int], started: float
) -> Verdict:
    """A rejection decided before any crop was rendered (the delivery is not a frame of the
    job at all)."""
    return Verdict(
        passed=False,
        reasons=[reason],
        windows=list(windows),
        seeds=seeds,
        scores=[],
        noise_ratio=0.0,
        noise_z=0.0,
        noise_level=0.0,
        seconds=time.perf_counter() - started,
        cpu_seconds=0.0,
        device="",
        blender_version="",
    )
