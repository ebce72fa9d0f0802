"""Verification bench: the crop verifier's catch rate per forgery, its false rejects on
honest frames, and the threshold curve that justifies its thresholds (issue 22, "Measure").

Builds the labelled set when missing (`bench/verification_set.py`: 6 scenes, honest frames
at other seeds, thread counts and tile sizes, every forgery at several strengths, cached),
scores every frame on random draws of K crop windows against two reference renders with
`render_executor.verification.compare`, and prints: per kind and strength the catch rate;
the false-reject rate over all honest trials; for each threshold alone, honest rejects and
catch rates as it moves. `--fit` picks, per threshold, the tightest value that rejects no
honest trial, widened by `--margin`, and judges the set again with those. Tables go to
`CACHE/report/` as CSV and JSON too.

    .venv/bin/python bench/verification.py [--cache DIR] [--crops 8] [--draws 5] [--fit]
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from render_executor.verification.compare import Thresholds  # noqa: E402

from bench.verification_scenes import SCENES  # noqa: E402
from bench.verification_scoring import (  # noqa: E402
    Bound,
    Trial,
    alone,
    bounds,
    curve_values,
    load,
    rejected,
    score_frames,
    tightest,
)
from bench.verification_set import LabelledSet  # noqa: E402

Label = tuple[str, str]
"""(kind, strength); honest frames are ("honest", "")."""


def rates(trials: list[Trial], verdicts: list[bool], key: Callable[[Trial], object]) -> dict:
    """key → [trials, rejected]."""
    counts: dict = defaultdict(lambda: [0, 0])
    for trial, out in zip(trials, verdicts, strict=True):
        counts[key(trial)][0] += 1
        counts[key(trial)][1] += out
    return counts


def pct(n: int, of: int) -> str:
    return f"{100 * n / of:.1f}" if of else "-"


def print_rates(trials: list[Trial], thresholds: Thresholds) -> dict:
    """The catch table (per kind and strength, per scene) and the false rejects; returned
    as a dict for the JSON report."""
    verdicts = rejected(trials, thresholds)
    by_label = rates(trials, verdicts, lambda t: (t.frame.kind, t.frame.strength))
    by_scene = rates(trials, verdicts, lambda t: (t.frame.kind, t.frame.strength, t.frame.scene))
    short = [s[:8] for s in SCENES]
    print(f"\nthresholds: {thresholds}")
    print(
        f"{'kind':<26}{'strength':<24}{'trials':>7}{'caught':>7}{'%':>7}  "
        + " ".join(f"{s:>8}" for s in short)
    )
    report = {}
    for (kind, strength), (n, caught) in by_label.items():
        scene_pcts = [
            pct(by_scene[(kind, strength, s)][1], by_scene[(kind, strength, s)][0]) for s in SCENES
        ]
        name = "honest (rejected)" if kind == "honest" else kind
        print(
            f"{name:<26}{strength:<24}{n:>7}{caught:>7}{pct(caught, n):>7}  "
            + " ".join(f"{p:>8}" for p in scene_pcts)
        )
        report[f"{kind}|{strength}"] = {"trials": n, "rejected": caught}
    return report


def worst(trial: Trial, statistic: str, side: str) -> float:
    """The crop statistic the judge would see first: max, min or max of the absolute."""
    values = [getattr(s, statistic) for s in trial.scores]
    return {"max": max(values), "min": min(values), "max|.|": max(abs(v) for v in values)}[side]


SEPARATION = (("noise_ratio", "max"), ("noise_ratio", "min"), ("bias_z", "max|.|"))


def print_separation(trials: list[Trial]) -> dict:
    """Per label the median of each trial's worst crop statistic, beside the honest extremes:
    how far each forgery is from the honest frames, statistic by statistic."""
    grouped: dict[Label, list[Trial]] = defaultdict(list)
    for t in trials:
        grouped[(t.frame.kind, t.frame.strength)].append(t)
    head = "".join(f"{side.replace('.', stat[:5]):>16}" for stat, side in SEPARATION)
    print("\nworst crop per trial (median over trials; honest: 0.1 %, 50 %, 99.9 % quantiles)")
    print(f"{'kind':<26}{'strength':<24}{head}")
    report = {}
    for (kind, strength), group in grouped.items():
        cells, row = [], {}
        for stat, side in SEPARATION:
            values = np.array([worst(t, stat, side) for t in group])
            if kind == "honest":
                q = np.quantile(values, [0.001, 0.5, 0.999])
                cells.append(f"{q[0]:.2f}/{q[1]:.2f}/{q[2]:.2f}")
                row[f"{side} {stat}"] = [float(v) for v in q]
            else:
                cells.append(f"{np.median(values):.2f}")
                row[f"{side} {stat}"] = float(np.median(values))
        print(f"{kind:<26}{strength:<24}" + "".join(f"{c:>16}" for c in cells))
        report[f"{kind}|{strength}"] = row
    return report


def curve(trials: list[Trial], thresholds: Thresholds, all_bounds: list[Bound], out: Path) -> list:
    """For each threshold judging alone, honest rejects and each kind's catch rate as it
    moves; printed, and written as long-form CSV rows."""
    kinds = list(dict.fromkeys(t.frame.kind for t in trials))
    rows = []
    for bound in all_bounds:
        side = "upper" if bound.upper else "lower"
        print(f"\ncurve: {bound.name} ({side} bound) alone; % rejected per kind")
        print(f"{'value':>9}" + "".join(f"{k[:9]:>10}" for k in kinds))
        for value in curve_values(bound):
            verdicts = rejected(trials, alone(thresholds, all_bounds, bound, value))
            counts = rates(trials, verdicts, lambda t: t.frame.kind)
            print(
                f"{value:>9.3f}" + "".join(f"{pct(counts[k][1], counts[k][0]):>10}" for k in kinds)
            )
            rows += [[bound.name, side, value, k, counts[k][0], counts[k][1]] for k in kinds]
    with open(out, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["threshold", "bound", "value", "kind", "trials", "rejected"])
        writer.writerows(rows)
    return rows


def fit(
    trials: list[Trial], thresholds: Thresholds, all_bounds: list[Bound], margin: float
) -> Thresholds:
    """Per threshold, the tightest value with no honest trial rejected, widened by `margin`."""
    honest = [t for t in trials if t.honest]
    fitted = {}
    for bound in all_bounds:
        edge = tightest(thresholds, all_bounds, bound, honest)
        fitted[bound.name] = edge * (1 + margin) if bound.upper else edge / (1 + margin)
        side = "from" if bound.upper else "up to"
        print(f"fit: {bound.name}: no honest reject {side} {edge:.4f}", end="")
        print(f"; with margin {fitted[bound.name]:.4f}")
    return dataclasses.replace(thresholds, **fitted)


def references(labelled: LabelledSet) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return {s: (load(labelled.reference(s, "a")), load(labelled.reference(s, "b"))) for s in SCENES}


def main(argv: Iterable[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=ROOT / "bench" / "results" / "verification")
    parser.add_argument("--honest", type=int, default=80, help="honest frames per scene")
    parser.add_argument("--instances", type=int, default=4, help="per forgery and scene")
    parser.add_argument("--crops", type=int, default=8, help="K windows per verdict")
    parser.add_argument("--window", type=float, default=0.002, help="one window's area share")
    parser.add_argument("--draws", type=int, default=5, help="window draws per forgery")
    parser.add_argument("--honest-draws", type=int, default=5, help="window draws per honest frame")
    parser.add_argument("--fit", action="store_true", help="fit thresholds on the honest trials")
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
    frames = labelled.frames()
    trials = score_frames(
        frames,
        references(labelled),
        args.draws,
        args.honest_draws,
        args.crops,
        args.window,
        args.cache,
    )
    seconds = time.perf_counter() - started
    print(f"scored {len(frames)} frames: {len(trials)} trials, {args.crops} crops, {seconds:.0f} s")
    defaults = Thresholds()
    all_bounds = bounds(defaults, [t for t in trials if t.honest])
    report = {"args": {k: str(v) for k, v in vars(args).items()}, "build": vars(build)}
    report["defaults"] = print_rates(trials, defaults)
    report["separation"] = print_separation(trials)
    report["curve"] = curve(trials, defaults, all_bounds, out / "curve.csv")
    if args.fit:
        fitted = fit(trials, defaults, all_bounds, args.margin)
        report["fitted"] = {"thresholds": repr(fitted), "rates": print_rates(trials, fitted)}
    (out / "verification.json").write_text(json.dumps(report, indent=1, default=str))
    print(f"\nwritten: {out / 'curve.csv'}, {out / 'verification.json'}")


if __name__ == "__main__":
    main()
