"""A denoised frame against its own passes denoised again: the honest spread and the catches.

A denoised job's verifier renders its crops without the denoiser and redoes the denoising of
each window from the passes the worker delivered (`inside._redo_denoising`); the frame must
be what the denoiser made of them. This renders each scene of the labelled set with the
denoiser on (320×180, its samples; PNG with its dither, JPEG or OpenEXR), verifies the honest
delivery with `--draws` draws of windows, and scores image-level forgeries of a PNG frame
(the passes left honest, as a forger keeping them would) on the same windows and redone
pixels. It prints the bounds (fitted with `--fit`, see `fit`), how many honest frames they
reject, and what they catch of each kind of forgery.

    python bench/verification_redo.py [--scenes a,b] [--draws 8] [--first 0] [--format PNG]
        [--fit]

The bounds in `compare.py` were fitted on draws 0–7 and 100–123 (PNG) or 100–107 (JPEG,
OpenEXR).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import asdict, replace
from pathlib import Path
from random import Random

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from render_executor.blender.runner import BlenderRunner, RenderJob  # noqa: E402
from render_executor.verification.compare import (  # noqa: E402
    CropScore,
    RedoBounds,
    judge_redone,
    redo_bounds,
)
from render_executor.verification.verifier import read_frame, redone_scores, verify_frame  # noqa: E402
from tests.support import forgeries  # noqa: E402
from veriframe_core.verification import draw  # noqa: E402

CACHE = ROOT / "bench" / "results" / "verification"
SIZE = (320, 180)
FORMATS = ("PNG", "JPEG", "OPEN_EXR")
OPEN = 1e9  # a bound that nothing passes, for fitting the others


def _half_then_up(src: Path, dst: Path) -> None:
    small = dst.with_suffix(".small.png")
    forgeries.upscale(src, small, (SIZE[0] // 2, SIZE[1] // 2))
    forgeries.upscale(small, dst, SIZE)


KINDS = {
    "red +1": lambda s, d: forgeries.colour_shift(s, d, 1),
    "red +2": lambda s, d: forgeries.colour_shift(s, d, 2),
    "hue +5°": lambda s, d: forgeries.hue_saturation(s, d, hue_deg=5),
    "saturation ×1.1": lambda s, d: forgeries.hue_saturation(s, d, saturation=1.1),
    "JPEG q95": lambda s, d: forgeries.jpeg(s, d, 95),
    "JPEG q75": lambda s, d: forgeries.jpeg(s, d, 75),
    "shift 1 px": lambda s, d: forgeries.shift(s, d, 1),
    "upscaled from half": _half_then_up,
}


def trials(scene: str, fmt: str, draws: range) -> tuple[list, dict[str, list]]:
    """The honest frame's window scores per draw, and each forgery's on the same windows."""
    facts = json.loads((CACHE / "blend" / f"{scene}.json").read_text())
    job = RenderJob(
        CACHE / "blend" / f"{scene}.blend", resolution=SIZE, samples=facts["samples"],
        device="CPU", output_format=fmt, denoise=True,
    )  # fmt: skip
    runner, work = BlenderRunner(), CACHE / "redo" / scene / fmt
    result = runner.render(job, work / "render")
    # how the verifier reads the redone windows of this format
    read_as = (fmt == "OPEN_EXR", fmt == "JPEG", facts["dither"] if fmt == "PNG" else 0.0)
    honest, forged = [], {kind: [] for kind in KINDS}
    for k in draws:
        drawn, scratch = draw(*SIZE, rng=Random(k)), work / f"draw-{k}"
        verdict = verify_frame(
            runner, job, result.frame, drawn.windows, drawn.seeds, scratch, noisy=result.noisy
        )
        windows = [*verdict.windows, *verdict.guided]
        redone = [scratch / f"redone-{i}.rgba32f" for i in range(len(windows))]
        honest.append(redone_scores(read_frame(result.frame), windows, redone, *read_as)[0])
        for kind, forge in KINDS.items() if fmt == "PNG" else ():
            path = scratch / f"forged-{kind.replace(' ', '_')}.png"
            forge(result.frame, path)
            forged[kind].append(redone_scores(read_frame(path), windows, redone, *read_as)[0])
    print(f"{scene} {fmt}: {len(draws)} draws", flush=True)
    return honest, forged


def refloored(scores: list[CropScore], old: float, new: float) -> list[CropScore]:
    """The scores with another floor (the ratio's denominator is rounding + floor)."""
    found = []
    for s in scores:
        squared = s.noise_ratio * s.expected_levels2
        expected = s.expected_levels2 - old + new
        found.append(replace(s, noise_ratio=squared / expected, expected_levels2=expected))
    return found


def fit(honest: dict[str, list[list[CropScore]]], bounds: RedoBounds) -> RedoBounds:
    """The floor at the honest windows' mean deviation beyond rounding; then each bound the
    larger of 10 % beyond the honest extreme and the worst scene's mean + 4 standard
    deviations (its tail: fitted on 8 draws the extremes alone rejected 4 of 168 held-out
    frames of the fine texture)."""
    windows = [s for trials in honest.values() for trial in trials for s in trial]
    excess = [s.noise_ratio * s.expected_levels2 - (s.expected_levels2 - bounds.floor_levels2)
              for s in windows]  # fmt: skip
    floor = round(max(float(np.mean(excess)), 0.01), 2)
    open_bounds = RedoBounds(OPEN, OPEN, OPEN, OPEN, floor)
    statistics = {}  # per scene, per trial: a window's largest ratio, the pooled one, biases
    for scene, trials in honest.items():
        for trial in (refloored(t, bounds.floor_levels2, floor) for t in trials):
            pixels = sum(s.pixels for s in trial)
            statistics.setdefault(scene, []).append([
                max(s.noise_ratio for s in trial),
                judge_redone(trial, open_bounds).noise_ratio,
                max(abs(s.bias_levels) for s in trial),
                abs(sum(s.bias_levels * s.pixels for s in trial) / pixels),
            ])  # fmt: skip
    found = []
    for column in range(4):
        values = [np.array(rows)[:, column] for rows in statistics.values()]
        extreme = max(v.max() for v in values)
        tail = max(v.mean() + 4 * v.std(ddof=1) for v in values)
        found.append(math.ceil(100 * max(1.1 * extreme, tail)) / 100)
    return RedoBounds(*found, floor_levels2=floor)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", default="", help="default: every scene of the set")
    parser.add_argument("--draws", type=int, default=8)
    parser.add_argument(
        "--first", type=int, default=0, help="the first draw's number (others: held out)"
    )
    parser.add_argument("--format", default="PNG", choices=FORMATS)
    parser.add_argument("--fit", action="store_true")
    args = parser.parse_args()
    scenes = args.scenes.split(",") if args.scenes else [
        p.stem for p in sorted((CACHE / "blend").glob("*.blend"))
    ]  # fmt: skip
    current = redo_bounds(args.format == "OPEN_EXR", args.format == "JPEG")
    draws = range(args.first, args.first + args.draws)
    found = {scene: trials(scene, args.format, draws) for scene in scenes}
    honest = [t for h, _ in found.values() for t in h]
    bounds = fit({scene: h for scene, (h, _) in found.items()}, current) if args.fit else current
    print("bounds", asdict(bounds))

    def caught(trial: list[CropScore]) -> bool:
        return not judge_redone(
            refloored(trial, current.floor_levels2, bounds.floor_levels2), bounds
        ).passed

    print(f"honest rejected: {sum(map(caught, honest))} of {len(honest)}")
    for kind in KINDS if args.format == "PNG" else ():
        cells = [
            f"{s} {100 * np.mean([caught(t) for t in f[kind]]):.0f} %"
            for s, (_, f) in found.items()
        ]
        print(f"{kind}: caught in {', '.join(cells)}")


if __name__ == "__main__":
    main()
