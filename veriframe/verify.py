"""`veriframe verify SCENE.blend FRAME.png`: a frame checked against its scene on this
machine, with the code verifier agents run.

What is not given comes from the scene file (frame, samples, engine), the resolution from
the frame itself; the crop windows and seeds are drawn here with the CSPRNG. A denoised
scene's render cost shows only in its noisy pass (`--noisy`: the passes agents deliver
beside the frame, which the frame is also checked against, denoised again); without it only
the frame's content is checked, and the output says so. Exit
status:
0 verified, 1 rejected, 2 bad input (a file missing, not a scene, not an image, or a scene
that does not render).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

from veriframe_core.distribution import requires_extra
from veriframe_core.verification import DEFAULT_CROPS, DEFAULT_SHARE, draw

VERIFIED, REJECTED, BAD_INPUT = 0, 1, 2


class BadInput(ValueError):
    """What `veriframe verify` was given cannot be verified; the message says why."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("scene", type=Path, help="the job's .blend file")
    parser.add_argument("frame", type=Path, help="the delivered frame (PNG, JPEG, OpenEXR, TIFF)")
    parser.add_argument(
        "--noisy",
        type=Path,
        help="a denoised frame's passes (the OpenEXR an agent delivers beside it): checks "
        "the render's cost, and the frame against them denoised again",
    )
    parser.add_argument("--frame", dest="frame_number", type=int, help="default: the scene's")
    parser.add_argument("--samples", type=int, help="default: the scene's")
    parser.add_argument(
        "--crops", type=int, default=DEFAULT_CROPS, help=f"windows (default {DEFAULT_CROPS})"
    )
    parser.add_argument(
        "--share",
        type=float,
        default=DEFAULT_SHARE,
        help=f"of the frame the windows cover together (default {DEFAULT_SHARE:g})",
    )
    parser.add_argument("--device", default="AUTO", help="AUTO, CPU, OPTIX, CUDA, HIP, …")
    parser.add_argument(
        "--comparison", type=Path, help="write each crop beside the verifier's render (PNG)"
    )
    parser.add_argument("--json", action="store_true", help="one JSON document, for scripts")


def run(args: argparse.Namespace) -> int:
    """Verify, print the verdict, return the exit status."""
    try:
        verdict = _verify(args)
    except BadInput as err:
        print(f"veriframe verify: {err}", file=sys.stderr)
        return BAD_INPUT
    if args.json:
        print(json.dumps(verdict.to_dict(), indent=2))
    else:
        _print(verdict)
    return VERIFIED if verdict.passed else REJECTED


def _verify(args: argparse.Namespace):
    with requires_extra("worker", "veriframe verify", "run it on a worker machine"):
        from render_executor.blender.inside import FORMATS
        from render_executor.blender.runner import BlenderRunner, RenderFailed, RenderJob
        from render_executor.verification.verifier import (
            FrameUnreadable,
            frame_header,
            verify_frame,
        )

    for path, what in ((args.scene, "scene"), (args.frame, "frame"), (args.noisy, "noisy pass")):
        if path is not None and not path.is_file():
            raise BadInput(f"the {what} {path} is not a file")
    if args.crops < 1 or not 0 < args.share <= 1:
        raise BadInput("--crops must be at least 1 and --share between 0 and 1")
    try:
        found, (width, height) = frame_header(args.frame)
    except FrameUnreadable as err:
        raise BadInput(str(err)) from None
    output_format = found if found in FORMATS else "PNG"  # the references are written as it was
    runner = BlenderRunner()
    with tempfile.TemporaryDirectory(prefix="veriframe-verify-") as scratch:
        try:
            scene = runner.describe(args.scene, Path(scratch) / "describe")
        except RenderFailed as err:
            raise BadInput(f"{args.scene} does not open as a Blender scene: {err.reason}") from None
        if not scene.has_camera:
            raise BadInput(f"{args.scene} has no camera")
        job = RenderJob(
            blend=args.scene,
            frame=scene.frame if args.frame_number is None else args.frame_number,
            resolution=(width, height),
            samples=args.samples or scene.samples or 1,
            engine=scene.engine,
            output_format=output_format,
            device=args.device,
        )
        drawn = draw(width, height, args.crops, args.share)
        try:
            verdict = verify_frame(
                runner,
                job,
                args.frame,
                drawn.windows,
                drawn.seeds,
                Path(scratch),
                noisy=args.noisy,
                require_noisy=False,
            )
        except RenderFailed as err:
            raise BadInput(f"{args.scene} does not render: {err.reason}") from None
        except FrameUnreadable as err:
            raise BadInput(str(err)) from None
        if args.comparison and verdict.comparison:
            shutil.copyfile(verdict.comparison, args.comparison)
        return verdict


def _print(verdict) -> None:
    state = "VERIFIED" if verdict.passed else "REJECTED"
    judged = (
        f"against its passes denoised again, {verdict.noise_ratio:.2f}× an honest frame's deviation"
        if verdict.redone
        else f"noise {verdict.noise_level:.2f} levels, {verdict.noise_ratio:.2f}× honest noise "
        f"({verdict.noise_z:+.1f} standard errors)"
    )
    print(
        f"{state}: {len(verdict.scores)} crops, {judged}, {verdict.seconds:.1f} s "
        f"({verdict.cpu_seconds:.1f} CPU-s, {verdict.device}, Blender {verdict.blender_version})"
    )
    noise = not verdict.redone  # a frame redone from its passes has no seed noise to show
    columns = "    noise   ratio      z" if noise else "   ratio"
    print(f" crop  window (x,y w×h)  {columns}   bias  placed")
    placed = [(w, "drawn") for w in verdict.windows] + [(w, "guided") for w in verdict.guided]
    for i, ((window, how), score) in enumerate(zip(placed, verdict.scores, strict=False)):
        level = f"{score.noise_level:6.2f} " if noise else ""
        z = f" {score.noise_z:+6.1f}" if noise else ""
        print(
            f"{i:>5}  {window.x:>4},{window.y:<4} {window.width:>4}×{window.height:<4}  "
            f"{level}{score.noise_ratio:7.3f}{z} {score.bias_levels:+6.2f}  {how}"
        )
    for reason in verdict.reasons:
        print(f"  - {reason}")
    if verdict.noisy_scores:
        ratios = ", ".join(f"{s.noise_ratio:.2f}" for s in verdict.noisy_scores)
        print(f"noisy pass: {ratios}× honest noise per crop")
    elif verdict.denoised:
        print("the scene is denoised: without its noisy pass (--noisy) the cost is not checked")
