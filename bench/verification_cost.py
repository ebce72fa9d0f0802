"""What verifying a frame costs against rendering it: Blender's CPU seconds for the crops
(both seeds, and the preview that places the guided ones; one process, the scene loaded
once) over those of the render it checks.

Target (issue "Verified frames"): ≤ 5 % of a 1920×1080 render of at least a minute. The
render and its verification alternate, `--rounds` times, so the machine's drift falls on
both alike; each verification draws new windows and seeds.

    .venv/bin/python bench/verification_cost.py [--scene S.blend] [--samples 2048] [--rounds 2]
        [--denoise]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from render_executor.blender.runner import BlenderRunner, RenderJob  # noqa: E402
from render_executor.verification.verifier import verify_frame  # noqa: E402
from veriframe.demo import write_demo_blend  # noqa: E402
from veriframe_core.verification import DEFAULT_CROPS, DEFAULT_SHARE, draw  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scene", type=Path, help="default: the demo scene")
    parser.add_argument("--samples", type=int, default=2048)
    parser.add_argument("--resolution", default="1920x1080")
    parser.add_argument("--crops", type=int, default=DEFAULT_CROPS)
    parser.add_argument("--share", type=float, default=DEFAULT_SHARE)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--denoise", action="store_true", help="with the denoiser, its noisy pass verified too"
    )
    args = parser.parse_args()
    width, height = (int(v) for v in args.resolution.split("x"))
    runner = BlenderRunner()
    with tempfile.TemporaryDirectory(prefix="bench-verify-") as scratch:
        root = Path(scratch)
        scene = args.scene or write_demo_blend(root / "demo.blend")
        job = RenderJob(
            scene,
            resolution=(width, height),
            samples=args.samples,
            device="CPU",
            denoise=args.denoise or None,
        )
        renders, verifications = [], []
        for round_ in range(args.rounds):
            rendered = runner.render(job, root / f"render-{round_}")
            drawn = draw(width, height, args.crops, args.share)
            verdict = verify_frame(
                runner,
                job,
                rendered.frame,
                drawn.windows,
                drawn.seeds,
                root / f"verify-{round_}",
                noisy=rendered.noisy,
            )
            renders.append(rendered.cpu_seconds)
            verifications.append(verdict.cpu_seconds)
            print(
                f"round {round_ + 1}: render {rendered.cpu_seconds:.1f} CPU-s "
                f"({rendered.wall_seconds:.1f} s), verification {verdict.cpu_seconds:.2f} CPU-s "
                f"({verdict.seconds:.1f} s, {len(verdict.scores)} crops of "
                f"{drawn.windows[0].width} px, {len(verdict.guided)} guided), "
                f"{'verified' if verdict.passed else 'REJECTED'}",
                flush=True,
            )
    render, verify = statistics.median(renders), statistics.median(verifications)
    print(
        f"{width}×{height}, {args.samples} samples, {args.crops} crops covering "
        f"{args.share:.0%}: render {render:.1f} CPU-s, verification {verify:.2f} CPU-s "
        f"= {verify / render:.1%} of the render (target ≤ 5 %)"
    )


if __name__ == "__main__":
    main()
