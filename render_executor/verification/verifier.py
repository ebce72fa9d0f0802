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

A denoised frame hides what its render cost (a denoised render of half the samples passes
for the job's), so a denoised job's delivery carries the render before the denoiser too
(`render_executor.passes`): the verifier's crops keep theirs, and the delivered pass is
judged against them as a frame without a denoiser is (`DEFAULT_THRESHOLDS`), beside the
frame itself, which is judged for its content (`DENOISED_THRESHOLDS`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from render_executor.blender.inside import LINEAR_FORMATS
from render_executor.blender.runner import (
    BlenderRunner,
    Cancel,
    CropGuide,
    CropRender,
    RenderJob,
    RenderLimits,
)
from render_executor.passes import Passes, display_values, read_passes
from render_executor.verification.compare import (
    BLOCK,
    DEFAULT_THRESHOLDS,
    DENOISED_THRESHOLDS,
    GUIDE_THRESHOLDS,
    CropScore,
    Thresholds,
    judge,
    judge_redone,
    redo_bounds,
    rounding_variance,
    score_crop,
    score_redone,
)
from veriframe_core.exr import ExrUnreadable, exr_size, is_exr, read_rgb
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
    noisy_scores: list[CropScore] = field(default_factory=list)  # the noisy pass's, same order
    denoised: bool = False  # the scene's denoiser ran: its noisy pass shows the cost
    redone: bool = False  # the frame judged against its passes denoised again, not seeds

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
            noisy_crops=[CropScoreOut(**asdict(s)) for s in self.noisy_scores],
            redone=self.redone,
        )

    def to_dict(self) -> dict:
        """The report, with the windows and seeds it was made on (`veriframe verify --json`)."""
        return {
            **self.report().model_dump(mode="json"),
            "passed": self.passed,
            "windows": [w.model_dump() for w in self.windows],
            "seeds": list(self.seeds),
        }


EXR = "OPEN_EXR"


def frame_header(path: Path) -> tuple[str, tuple[int, int]]:
    """The image's format as a job names it (OPEN_EXR for either kind of OpenEXR) and its
    width and height, from its header alone (a small file can claim a huge image);
    FrameUnreadable if it is no image."""
    try:
        if is_exr(path):
            return EXR, exr_size(path)
        with Image.open(path) as image:
            return image.format or "", image.size
    except (UnidentifiedImageError, OSError, ExrUnreadable) as err:
        raise FrameUnreadable(f"{path.name} does not decode as an image: {err}") from None


def read_frame(path: Path) -> np.ndarray:
    """The frame's RGB values in [0, 1] as they are compared (H × W × 3): an OpenEXR frame's
    linear light through the display curve; FrameUnreadable if it does not decode."""
    kind = frame_header(path)[0]
    values = _stored_values(path, kind)
    return display_values(values) if kind == EXR else values


def _stored_values(path: Path, kind: str) -> np.ndarray:
    """The frame's RGB values as stored (linear light for OpenEXR)."""
    try:
        if kind == EXR:
            return read_rgb(path)
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"), dtype=np.float32) / 255
    except (UnidentifiedImageError, OSError, SyntaxError, ExrUnreadable) as err:
        raise FrameUnreadable(f"{path.name} does not decode as an image: {err}") from None


def read_rendered(path: Path, window: Window, linear: bool, rounded: bool) -> np.ndarray:
    """A rendered window's RGB values as compared (`BlenderRunner.render_crops`): linear
    light (an OpenEXR job's) through the display curve, 8-bit codes (a JPEG's) as the levels
    they are."""
    rgb = np.fromfile(path, dtype=np.float32).reshape(window.height, window.width, 4)[..., :3]
    if linear:
        return display_values(rgb)
    if rounded:  # Blender's decoder's floats, a hair off Pillow's k / 255
        return (np.round(rgb * 255) / 255).astype(np.float32)
    return np.clip(rgb, 0, 1)


def redone_scores(
    frame: np.ndarray,
    windows: Sequence[Window],
    redone: Sequence[Path],
    linear: bool,
    rounded: bool,
    dither: float,
) -> tuple[list[CropScore], list[tuple[np.ndarray, np.ndarray]]]:
    """Each window of the frame (values as compared) against the denoiser's output redone
    from the delivered passes (`score_redone`, with the floor of the frame format's bounds;
    `linear`, `rounded` and `dither` as in `CropsResult`), and the pairs compared."""
    floor = redo_bounds(linear, rounded).floor_levels2
    scores, rows = [], []
    for path, window in zip(redone, windows, strict=True):
        reference = read_rendered(path, window, linear, rounded)
        exact = linear or rounded  # no rounding to model
        rounding = 0.0 if exact else rounding_variance(reference, dither)
        delivered = _cut(frame, window)
        rows.append((delivered, reference))
        scores.append(
            score_redone(delivered, reference, rounding_levels2=rounding, floor_levels2=floor)
        )
    return scores, rows


def _read_noisy_crop(path: Path, window: Window) -> np.ndarray:
    """A rendered window's noisy pass, through the comparison's display curve."""
    return display_values(_read_rgb_rows(path, window))


def _distinct_pixels(windows: Sequence[Window], width: int, height: int) -> int:
    """How many pixels the windows cover (on a small frame they overlap)."""
    covered = np.zeros((height, width), dtype=bool)
    for window in windows:
        covered[window.y : window.y + window.height, window.x : window.x + window.width] = True
    return int(covered.sum())


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
    noisy: Path | None = None,
    require_noisy: bool = True,
) -> Verdict:
    """Render `windows` of `job` at both `seeds` and judge `delivered` against them (by
    `thresholds`, or those fitted for frames with or without a denoiser), and when the
    scene denoises, the delivered `noisy` pass against theirs (a denoised delivery without
    one is rejected, unless not `require_noisy`: a creator checking a frame alone). A frame
    or pass of another size is rejected without rendering; RenderFailed if the scene does
    not render (or `cancel` was set), FrameUnreadable if the delivery is not an image."""
    started = time.perf_counter()
    width, height = job.resolution
    delivered_files = {"frame": delivered} | ({"noisy pass": noisy} if noisy else {})
    headers = {name: frame_header(path) for name, path in delivered_files.items()}
    for name, (_, size) in headers.items():  # before any pixel is decoded
        if size != (width, height):
            reason = f"the {name} is {size[0]}×{size[1]} pixels; the job asked for {width}×{height}"
            return rejected_unrendered(reason, windows, seeds, started)
    kind = headers["frame"][0]
    wanted = EXR if job.output_format.upper() in LINEAR_FORMATS else job.output_format.upper()
    if kind != wanted:
        reason = f"the frame is {kind}; the job asked for {job.output_format}"
        return rejected_unrendered(reason, windows, seeds, started)
    stored = _stored_values(delivered, kind)
    frame = display_values(stored) if kind == EXR else stored
    passes = _read_passes(noisy) if noisy else None
    noisy_pass = display_values(passes.noisy) if passes else None
    for window in windows:
        if not window.fits(width, height):
            raise ValueError(f"window {window} is outside the {width}×{height} frame")
    crops = [CropRender(w, seed) for w in windows for seed in seeds]
    scratch.mkdir(parents=True, exist_ok=True)
    np.save(scratch / "delivered.npy", stored)
    guide = (
        CropGuide(scratch / "delivered.npy", len(windows), windows[0].width, seeds)
        if windows
        else None
    )
    rendered = runner.render_crops(
        job, crops, scratch, MARGIN, limits or RenderLimits(), cancel, guide, passes
    )
    denoised = rendered.margin > 0  # a denoiser or compositor mixed neighbouring pixels
    if thresholds is None:
        thresholds = DENOISED_THRESHOLDS if denoised else DEFAULT_THRESHOLDS
    scores, rows = [], []
    all_windows = [*windows, *rendered.guided]
    if rendered.redone:  # the frame against its own passes denoised again
        scores, rows = redone_scores(
            frame, all_windows, rendered.redone, rendered.linear, rendered.rounded, rendered.dither
        )
    for i, window in enumerate([] if rendered.redone else all_windows):
        first, second = (
            read_rendered(p, window, rendered.linear, rendered.rounded)
            for p in rendered.images[2 * i : 2 * i + 2]
        )
        rows.append((_cut(frame, window), first))
        rounding = (
            0.0
            if rendered.linear or rendered.rounded
            else rounding_variance((first + second) / 2, rendered.dither)
        )
        scores.append(
            score_crop(
                _cut(frame, window),
                first,
                second,
                rounding_levels2=rounding,
                floor_levels2=thresholds.floor_levels2,
                block=BLOCK if denoised else 1,
            )
        )
    pixels = _distinct_pixels(all_windows, width, height)
    judgement = (
        judge_redone(scores, redo_bounds(rendered.linear, rendered.rounded), pixels)
        if rendered.redone
        else judge(scores, thresholds, pixels)
    )
    reasons, noisy_scores = list(judgement.reasons), []
    if rendered.noisy and noisy_pass is not None:
        noisy_scores = _score_noisy(noisy_pass, all_windows, rendered.noisy)
        reasons += [f"noisy pass: {r}" for r in judge(noisy_scores, DEFAULT_THRESHOLDS).reasons]
        if rendered.guides:
            reasons += _guide_reasons(passes, all_windows, rendered.guides)
    elif rendered.noisy and require_noisy:
        reasons.append(
            "the scene is denoised and the delivery has no noisy pass (the render before the "
            "denoiser), which is what shows the render's cost"
        )
    comparison = scratch / "comparison.png"
    side_by_side(rows).save(comparison)
    return Verdict(
        passed=not reasons,
        reasons=reasons,
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
        noisy_scores=noisy_scores,
        denoised=bool(rendered.noisy),
        redone=bool(rendered.redone),
    )


def _read_passes(path: Path) -> Passes:
    """The delivered passes; FrameUnreadable if they are not."""
    try:
        return read_passes(path)
    except ExrUnreadable as err:
        raise FrameUnreadable(str(err)) from None


def _score_noisy(
    delivered: np.ndarray, windows: Sequence[Window], rendered: Sequence[Path]
) -> list[CropScore]:
    """Each window of the delivered noisy pass against the verifier's two (no rounding on
    either side: half floats are far finer than the noise)."""
    scores = []
    for i, window in enumerate(windows):
        first, second = (_read_noisy_crop(p, window) for p in rendered[2 * i : 2 * i + 2])
        scores.append(score_crop(_cut(delivered, window), first, second))
    return scores


def _guide_reasons(
    passes: Passes, windows: Sequence[Window], rendered: Sequence[tuple[Path, Path]]
) -> list[str]:
    """The delivered denoiser guides judged as the noisy pass is, against the crops' own
    (they steer the denoiser: forged ones would make the frame another one). Normals are
    brought from [-1, 1] to [0, 1]."""
    reasons = []
    for index, name in enumerate(("albedo", "normal")):
        to_unit = (lambda v: (v + 1) / 2) if name == "normal" else (lambda v: v)
        delivered = np.clip(to_unit(getattr(passes, name)), 0, 1)
        scores = []
        for i, window in enumerate(windows):
            first, second = (
                np.clip(to_unit(_read_rgb_rows(paths[index], window)), 0, 1)
                for paths in rendered[2 * i : 2 * i + 2]
            )
            scores.append(score_crop(_cut(delivered, window), first, second))
        reasons += [f"{name} pass: {r}" for r in judge(scores, GUIDE_THRESHOLDS).reasons]
    return reasons


def _read_rgb_rows(path: Path, window: Window) -> np.ndarray:
    """A rendered window's pass, as the runner cuts it (float32 RGB rows)."""
    return np.fromfile(path, dtype=np.float32).reshape(window.height, window.width, 3)


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
