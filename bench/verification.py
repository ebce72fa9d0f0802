"""Verification bench: the crop verifier's catch rate per forgery, its false rejects on
honest frames, and the threshold curve that justifies its thresholds (issue 22, "Measure").

Builds the labelled set when missing (`bench/verification_set.py`: 6 scenes, honest frames
at other seeds, thread counts and tile sizes, every forgery at several strengths, cached),
scores every frame on random draws of K crop windows against two reference renders with
`render_executor.verification.compare`, and prints: per kind and strength the catch rate;
the false-reject rate over all honest trials; each statistic's spread per kind; for each
threshold moved alone, honest rejects and catch rates. `--fit` sets each z bound to the
smallest value that rejects no honest trial (the other bounds open), widened by
`--margin`, and judges the set again with those. It prints the delivery's 8-bit rounding
variance by fractional level as measured on the set, beside the table the verifier uses
(`compare.DITHERED_ROUNDING`); `--scenes` judges some scenes only. Tables go to
`CACHE/report/` as CSV and JSON too; figures and findings are in bench/README.md.

    .venv/bin/python bench/verification.py [--cache DIR] [--crops 8] [--draws 5] [--fit]
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import math
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from bench.verification_scenes import SCENES  # noqa: E402
from bench.verification_scoring import (  # noqa: E402
    Trial,
    curve_values,
    judge_thresholds,
    measured_rounding,
    references,
    rejected,
    score_frames,
    tightest,
)
from bench.verification_set import LabelledSet  # noqa: E402
from render_executor.verification.compare import (  # noqa: E402
    DITHERED_ROUNDING,
    Thresholds,
    judge,
)
from veriframe_core.verification import DEFAULT_CROPS, DEFAULT_SHARE  # noqa: E402

Label = tuple[str, str]
"""(kind, strength); honest frames are ("honest", "")."""


def label(trial: Trial) -> Label:
    return (trial.frame.kind, trial.frame.strength)


def rates(trials: list[Trial], verdicts: list[bool], key: Callable[[Trial], object]) -> dict:
    """key → [trials, rejected]."""
    counts: dict = defaultdict(lambda: [0, 0])
    for trial, out in zip(trials, verdicts, strict=True):
        counts[key(trial)][0] += 1
        counts[key(trial)][1] += out
    return counts


def pct(n: int, of: int) -> str:
    return f"{100 * n / of:.1f}" if of else "-"


def print_rates(trials: list[Trial], thresholds: Thresholds | None) -> dict:
    """The catch table (per kind and strength, per scene) and the false rejects, by
    `thresholds` or (None) the verifier's own; returned as a dict for the JSON report."""
    verdicts = rejected(trials, thresholds)
    by_label = rates(trials, verdicts, label)
    by_scene = rates(trials, verdicts, lambda t: (t.frame.kind, t.frame.strength, t.frame.scene))
    scenes = list(dict.fromkeys(t.frame.scene for t in trials))
    short = [s[:8] for s in scenes]
    shown = thresholds or "the verifier's own (denoised scenes: DENOISED_THRESHOLDS)"
    print(f"\nthresholds: {shown}")
    print(
        f"{'kind':<26}{'strength':<24}{'trials':>7}{'caught':>7}{'%':>7}  "
        + " ".join(f"{s:>8}" for s in short)
    )
    report = {}
    for (kind, strength), (n, caught) in by_label.items():
        scene_pcts = [
            pct(by_scene[(kind, strength, s)][1], by_scene[(kind, strength, s)][0]) for s in scenes
        ]
        name = "honest (rejected)" if kind == "honest" else kind
        print(
            f"{name:<26}{strength:<24}{n:>7}{caught:>7}{pct(caught, n):>7}  "
            + " ".join(f"{p:>8}" for p in scene_pcts)
        )
        report[f"{kind}|{strength}"] = {"trials": n, "rejected": caught}
    return report


SEPARATION: dict[str, Callable[[Trial], float]] = {
    "max noise_z": lambda t: max(s.noise_z for s in t.scores),
    "min noise_z": lambda t: min(s.noise_z for s in t.scores),
    "pooled z": lambda t: judge(t.scores).noise_z,
    "max ratio": lambda t: max(s.noise_ratio for s in t.scores),
    "min ratio": lambda t: min(s.noise_ratio for s in t.scores),
    "pooled ratio": lambda t: judge(t.scores).noise_ratio,
    "max bias_z": lambda t: max(s.bias_z for s in t.scores),
    "max |levels|": lambda t: max(abs(s.bias_levels) for s in t.scores),
    "fine z": lambda t: judge(t.scores).fine_z,
    "coarse z": lambda t: judge(t.scores).coarse_z,
}
"""Each trial's worst crop, or its crops together, by statistic."""


def print_separation(trials: list[Trial]) -> dict:
    """Per label the median of each trial's statistics, beside the honest 0.1 %, 50 % and
    99.9 % quantiles: how far each forgery is from the honest frames, statistic by
    statistic."""
    grouped: dict[Label, list[Trial]] = defaultdict(list)
    for t in trials:
        grouped[label(t)].append(t)
    print("\nstatistics per trial: median over trials (honest: 0.1 %, 50 %, 99.9 % quantiles)")
    print(f"{'kind':<24}{'strength':<24}" + "".join(f"{name:>14}" for name in SEPARATION))
    report = {}
    for (kind, strength), group in grouped.items():
        cells, row = [], {}
        for name, statistic in SEPARATION.items():
            values = np.array([statistic(t) for t in group])
            if kind == "honest":
                q = [float(v) for v in np.quantile(values, [0.001, 0.5, 0.999])]
                cells.append("/".join(f"{v:.1f}" for v in q))
                row[name] = q
            else:
                row[name] = float(np.median(values))
                cells.append(f"{row[name]:.2f}")
        print(f"{kind:<24}{strength:<24}" + "".join(f"{c:>14}" for c in cells))
        report[f"{kind}|{strength}"] = row
    return report


def curve(trials: list[Trial], thresholds: Thresholds, out: Path) -> list:
    """For each threshold moved alone (the others at `thresholds`), honest rejects and each
    kind's catch rate; printed, and written as long-form CSV rows."""
    kinds = list(dict.fromkeys(t.frame.kind for t in trials))
    rows = []
    for name in judge_thresholds(thresholds):
        print(f"\ncurve: {name} moved alone; % rejected per kind")
        print(f"{'value':>9}" + "".join(f"{k[:9]:>10}" for k in kinds))
        for value in curve_values(getattr(thresholds, name)):
            moved = dataclasses.replace(thresholds, **{name: value})
            counts = rates(trials, rejected(trials, moved), lambda t: t.frame.kind)
            cells = "".join(f"{pct(counts[k][1], counts[k][0]):>10}" for k in kinds)
            print(f"{value:>9.3f}{cells}")
            rows += [[name, value, k, counts[k][0], counts[k][1]] for k in kinds]
    with open(out, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["threshold", "value", "kind", "trials", "rejected"])
        writer.writerows(rows)
    return rows


def fit(trials: list[Trial], thresholds: Thresholds, margin: float) -> Thresholds:
    """The statistics' bounds (the `*_z_max` thresholds) fitted one by one on the honest
    trials: each the smallest value that rejects none while the other bounds are open
    (infinite), raised by `margin`. The effect-size gates (`noise_effect`,
    `bias_effect_levels`) stay as given: they say which effect is ever worth a reason."""
    honest = [t for t in trials if t.honest]
    names = [n for n in judge_thresholds(thresholds) if n.endswith("_max")]
    opened = dataclasses.replace(thresholds, **dict.fromkeys(names, math.inf))
    fitted = {}
    for name in names:
        given = getattr(thresholds, name)
        edge = tightest(opened, name, honest, around=given if math.isfinite(given) else 2.0)
        fitted[name] = edge * (1 + margin)
        print(f"fit: {name}: no honest reject from {edge:.3f}; with margin {fitted[name]:.3f}")
    return dataclasses.replace(thresholds, **fitted)


def main(argv: Iterable[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=ROOT / "bench" / "results" / "verification")
    parser.add_argument("--honest", type=int, default=80, help="honest frames per scene")
    parser.add_argument("--instances", type=int, default=4, help="per forgery and scene")
    parser.add_argument("--crops", type=int, default=DEFAULT_CROPS, help="K windows per verdict")
    parser.add_argument("--share", type=float, default=DEFAULT_SHARE, help="the windows' share")
    parser.add_argument("--draws", type=int, default=5, help="window draws per forgery")
    parser.add_argument("--honest-draws", type=int, default=5, help="window draws per honest frame")
    parser.add_argument("--fit", action="store_true", help="fit thresholds on the honest trials")
    parser.add_argument("--scenes", help="judge only these (comma-separated); default all")
    parser.add_argument("--margin", type=float, default=0.1, help="fitted bounds widened by this")
    args = parser.parse_args(argv)
    labelled = LabelledSet(args.cache, args.honest, args.instances)
    build = labelled.build(lambda line: print(time.strftime("%H:%M:%S"), line, flush=True))
    print(f"built: {build.renders} renders", end="")
    print(f", {build.wall_seconds:.0f} s wall, {build.cpu_seconds:.0f} CPU-s")
    out = args.cache / "report"
    out.mkdir(exist_ok=True)
    if build.renders:  # the set's cost, kept for the README (later runs build nothing)
        with open(out / "builds.jsonl", "a") as f:
            f.write(
                json.dumps(vars(build) | {"at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
                + "\n"
            )
    started = time.perf_counter()
    scenes = args.scenes.split(",") if args.scenes else list(SCENES)
    frames = [f for f in labelled.frames() if f.scene in scenes]
    measured = measured_rounding(labelled, SCENES)
    print("rounding variance by fractional level, levels², measured:", np.round(measured, 3))
    print("                                  the verifier's table:", DITHERED_ROUNDING)
    refs = references(labelled, scenes)
    trials = score_frames(
        frames,
        refs,
        args.draws,
        args.honest_draws,
        args.crops,
        args.share,
        args.cache,
        labelled.noisy_for,
    )
    seconds = time.perf_counter() - started
    print(f"scored {len(frames)} frames: {len(trials)} trials, {args.crops} crops, {seconds:.0f} s")
    defaults = Thresholds()
    report = {"args": {k: str(v) for k, v in vars(args).items()}, "build": vars(build)}
    report["verifier"] = print_rates(trials, None)
    report["separation"] = print_separation(trials)
    name = f"{len(scenes)}-scenes"
    name += f"-{args.crops}-crops" if args.crops != DEFAULT_CROPS else ""
    curve_csv, report_json = out / f"curve-{name}.csv", out / f"report-{name}.json"
    report["curve"] = curve(trials, defaults, curve_csv)
    if args.fit:
        fitted = fit(trials, defaults, args.margin)
        report["fitted"] = {"thresholds": repr(fitted), "rates": print_rates(trials, fitted)}
    report_json.write_text(json.dumps(report, indent=1, default=str))
    print(f"\nwritten: {curve_csv}, {report_json}")


if __name__ == "__main__":
    main()
