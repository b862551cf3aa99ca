"""Fit a model's ``diffusion.steps_by_signal`` rule on held-out validation files.

Reads the held-out benchmark's per-file results of one model run at several step counts
(``benchmarks/heldout.py --part val --model s1=M --model-args 's1=--steps 1' ...``), computes
each dark file's mean photo-electrons per pixel (its raw_norm mean x the profile's full scale /
K), and finds the monotone rule -- fewer steps for brighter inputs, at most ``--pairs`` pairs --
with the best mean PSNR over the files. Prints the rule, as YAML for the model's config, and the
mean PSNR of every fixed S, the rule and the per-file oracle (the best S of each file: an upper
bound no rule reaches). Only validation files may choose the rule (``--part val``).

    .venv/bin/python benchmarks/fit_steps_rule.py --results runs/heldout/results-bias-free \\
        --method 1=s1 --method 2=s2 --method 3=s3 --method 4=s4
"""

from __future__ import annotations

import argparse
import csv
import itertools
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def read_results(folder: Path, methods: dict[int, str]) -> dict[str, dict]:
    """``{file: {"row": first row, "psnr": {S: dB}}}`` for files every method has."""
    files: dict[str, dict] = {}
    for steps, name in methods.items():
        with open(folder / f"{name}.csv", newline="") as fh:
            for row in csv.DictReader(fh):
                entry = files.setdefault(row["file"], {"row": row, "psnr": {}})
                entry["psnr"][steps] = float(row["psnr"])
    return {k: v for k, v in files.items() if set(v["psnr"]) == set(methods)}


def electrons_per_pixel(dark: Path, camera: str, system_gain: float) -> float:
    """Mean photo-electrons per pixel of a dark DNG (K in DN/e on the profile's scale)."""
    from expodiff.inference.gain import resolve_camera_profile
    from expodiff.inference.model_loading import mean_electrons
    from expodiff.io.rawio import read_raw

    profile = resolve_camera_profile(camera)
    mean = float(read_raw(dark).packed_norm().clamp(0.0, 1.0).mean())
    return mean_electrons(mean, system_gain, profile.full_scale_dn)


def rule_steps(rule: Sequence[tuple[float, int]], electrons: float) -> int:
    for minimum, steps in rule:
        if electrons >= minimum:
            return steps
    raise ValueError("a rule ends with minimum 0")


def geometric_midpoints(values: Sequence[float]) -> list[float]:
    """Thresholds between neighbouring sorted distinct ``values``: their geometric means."""
    ordered = sorted(set(values))
    return [(a * b) ** 0.5 for a, b in itertools.pairwise(ordered)]


def fit_rule(
    samples: Sequence[tuple[float, dict[int, float]]], max_pairs: int
) -> tuple[tuple[tuple[float, int], ...], float]:
    """The monotone rule with the best mean PSNR: ``(rule, mean dB)``.

    ``samples``: ``(electrons, {S: dB})`` per file. Thresholds are the geometric midpoints
    between neighbouring files' electrons; the steps never decrease as the signal falls.
    """
    cuts = geometric_midpoints([e for e, _ in samples])
    steps = sorted(samples[0][1])
    best: tuple[tuple[tuple[float, int], ...], float] | None = None
    for n in range(1, max_pairs + 1):
        for minima in itertools.combinations(sorted(cuts, reverse=True), n - 1):
            for chosen in itertools.combinations(steps, n):  # increasing S, decreasing signal
                rule = (*zip(minima, chosen[:-1], strict=True), (0.0, chosen[-1]))
                score = sum(p[rule_steps(rule, e)] for e, p in samples) / len(samples)
                if best is None or score > best[1] + 1e-12:
                    best = (rule, score)
    assert best is not None
    return best


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--results", type=Path, required=True, help="heldout.py's results folder")
    p.add_argument("--set", type=Path, default=None, help="its set folder (default: beside)")
    p.add_argument("--method", action="append", required=True, metavar="S=NAME")
    p.add_argument("--pairs", type=int, default=3, help="at most this many pairs in the rule")
    args = p.parse_args(argv)
    methods = {int(s): n for s, _, n in (m.partition("=") for m in args.method)}
    files = read_results(args.results, methods)
    if not files:
        print(f"fit_steps_rule: no file has results of every method in {args.results}")
        return 2
    tag = args.results.name.removeprefix("results").strip("-")
    sets = (
        [args.set]
        if args.set
        else sorted(args.results.parent.glob(f"set-{tag}*" if tag else "set-[0-9]*"))
    )
    samples = []
    for name, entry in sorted(files.items()):
        row = entry["row"]
        dark = next(
            (s / "dark" / f"{name}.dng" for s in sets if (s / "dark" / f"{name}.dng").is_file()),
            None,
        )
        if dark is None:
            print(f"fit_steps_rule: {name}.dng not found in {sets}")
            return 2
        e = electrons_per_pixel(dark, row["camera"], float(row["system_gain"]))
        samples.append((e, entry["psnr"]))
    n = len(samples)
    print(f"{n} files; mean PSNR by fixed S:")
    for s in sorted(methods):
        print(f"  S = {s}: {sum(p[s] for _, p in samples) / n:.3f} dB")
    oracle = sum(max(p.values()) for _, p in samples) / n
    rule, score = fit_rule(samples, args.pairs)
    print(f"  per-file best S (oracle, not reachable): {oracle:.3f} dB")
    print(f"  fitted rule: {score:.3f} dB")
    print("steps_by_signal: [" + ", ".join(f"[{m:.4g}, {s}]" for m, s in rule) + "]")
    print("files (electrons per pixel, best S, the rule's S):")
    for (e, p), name in zip(samples, sorted(files), strict=True):
        best = max(p, key=p.get)
        print(f"  {e:10.2f}  best S={best}  rule S={rule_steps(rule, e)}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
