"""Fit a model's ``diffusion.input_consistency_min_electrons`` on held-out validation files.

The input consistency (every prediction given the input's low frequencies) helps where the
input's low frequencies can be trusted and hurts where the dark frame carries a black-level
error the network would otherwise remove. So the threshold is fitted on *both* variants of the
held-out files: bias-free, and with ELD's colour bias (``heldout.py --variant biased``). Reads the
per-file results of one model without and with the consistency on both variants, computes each
dark file's mean photo-electrons per pixel, and picks the minimum signal at which to apply it
that maximises the mean PSNR over all files of both variants (a geometric midpoint between
neighbouring files; "never" is a candidate too). Prints the gain by variant and group. Only
validation files may choose it (``--part val``).

With ``--keep-offset`` / ``--biased-keep-offset`` (the method with the consistency that leaves the
prediction's per-channel offset alone, ``input_consistency_offset_min_electrons: 1e9``) it fits
two thresholds instead: no consistency below the first, the offset-keeping one up to the second,
the full one from there (``input_consistency_min_electrons`` and
``input_consistency_offset_min_electrons``).

    .venv/bin/python benchmarks/fit_consistency_rule.py --off dnew --on c16 \\
        --biased-off bdnew --biased-on bc16 [--keep-offset ko --biased-keep-offset bko]
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Sequence
from pathlib import Path

from fit_steps_rule import electrons_per_pixel, geometric_midpoints

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = {"bias-free": ("results-bias-free", "set-bias-free-"), "biased": ("results", "set-")}


def _rows(path: Path) -> dict[str, dict]:
    with open(path, newline="") as fh:
        return {r["file"]: r for r in csv.DictReader(fh)}


def gains(
    workdir: Path, variant: str, off: str, on: str, keep: str | None = None
) -> list[tuple[float, ...]]:
    """``(electrons, group, PSNR off, PSNR on[, PSNR offset kept])`` of every file both (all
    three) methods have."""
    results, prefix = VARIANTS[variant]
    a, b = _rows(workdir / results / f"{off}.csv"), _rows(workdir / results / f"{on}.csv")
    k = None if keep is None else _rows(workdir / results / f"{keep}.csv")
    sets = sorted(p for p in workdir.glob(f"{prefix}[0-9]*") if p.is_dir())
    found = []
    for name in sorted(set(a) & set(b) & (set(a) if k is None else set(k))):
        paths = [s / "dark" / f"{name}.dng" for s in sets]
        dark = next((d for d in paths if d.is_file()), None)
        if dark is None:
            raise SystemExit(f"fit_consistency_rule: {name}.dng not found in {sets}")
        row = a[name]
        e = electrons_per_pixel(dark, row["camera"], float(row["system_gain"]))
        psnrs = [float(row["psnr"]), float(b[name]["psnr"])]
        psnrs += [] if k is None else [float(k[name]["psnr"])]
        found.append((e, row["group"], *psnrs))
    return found


def _harmless(files: Sequence[tuple], low: float, high: float) -> bool:
    """No group of files (a variant's noise group: ``f[1]``) loses PSNR to the rule on average."""
    groups: dict[str, float] = {}
    for f in files:
        groups[f[1]] = groups.get(f[1], 0.0) + _choice(f, low, high) - f[2]
    return all(gain >= -1e-9 for gain in groups.values())


def fit_minimum(files: Sequence[tuple], harmless: bool = False) -> tuple[float, float]:
    """``(minimum electrons, mean PSNR)`` of the best threshold (inf: never apply); with
    ``harmless``, among the thresholds no group loses by."""
    candidates = [0.0, *geometric_midpoints([f[0] for f in files]), float("inf")]
    best = None
    for m in candidates:
        if harmless and not _harmless(files, m, m):
            continue
        score = sum(_choice(f, m, m) for f in files) / len(files)
        if best is None or score > best[1] + 1e-12:
            best = (m, score)
    assert best is not None  # "never" is always harmless
    return best


def fit_two(files: Sequence[tuple], harmless: bool = False) -> tuple[float, float, float]:
    """``(minimum, offset minimum, mean PSNR)`` of the best pair of thresholds: off below the
    minimum, the offset-keeping consistency up to the offset minimum, the full one above
    (``harmless``: among the pairs no group loses by)."""
    candidates = [0.0, *geometric_midpoints([f[0] for f in files]), float("inf")]
    best = None
    for i, low in enumerate(candidates):
        for high in candidates[i:]:
            if harmless and not _harmless(files, low, high):
                continue
            score = sum(_choice(f, low, high) for f in files) / len(files)
            if best is None or score > best[2] + 1e-12:
                best = (low, high, score)
    assert best is not None
    return best


def _choice(f: tuple, low: float, high: float) -> float:
    e, _, off, on, *keep = f
    return off if e < low else (keep[0] if keep and e < high else on)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workdir", type=Path, default=ROOT / "runs" / "heldout")
    p.add_argument("--off", required=True, help="method name without consistency (bias-free)")
    p.add_argument("--on", required=True, help="method name with consistency (bias-free)")
    p.add_argument("--biased-off", required=True, help="the same on the biased files")
    p.add_argument("--biased-on", required=True)
    p.add_argument("--keep-offset", help="method with the offset-keeping consistency (bias-free)")
    p.add_argument("--biased-keep-offset", help="the same on the biased files")
    p.add_argument(
        "--harmless",
        action="store_true",
        help="only rules under which no group (variant x noise group) loses PSNR on average",
    )
    args = p.parse_args(argv)
    if (args.keep_offset is None) != (args.biased_keep_offset is None):
        p.error("--keep-offset and --biased-keep-offset go together")
    by_variant = {
        "bias-free": gains(args.workdir, "bias-free", args.off, args.on, args.keep_offset),
        "biased": gains(
            args.workdir, "biased", args.biased_off, args.biased_on, args.biased_keep_offset
        ),
    }
    # groups named by variant too: "harmless" holds per variant and noise group
    files = [(e, f"{v} {g}", *rest) for v, fs in by_variant.items() for e, g, *rest in fs]
    if not files:
        print("fit_consistency_rule: no file has results of both methods")
        return 2
    if args.keep_offset is None:
        minimum, score = fit_minimum(files, args.harmless)
        high = minimum
    else:
        minimum, high, score = fit_two(files, args.harmless)
    print(f"{len(files)} files; mean PSNR never {sum(f[2] for f in files) / len(files):.3f} dB, "
          f"always {sum(f[3] for f in files) / len(files):.3f}, fitted {score:.3f}")  # fmt: skip
    print(f"input_consistency_min_electrons: {minimum:.4g}")
    if args.keep_offset is not None:
        print(f"input_consistency_offset_min_electrons: {high:.4g}")
    for variant, fs in by_variant.items():
        for group in sorted({g for _, g, *_ in fs}):
            sel = [f for f in fs if f[1] == group]
            rule = sum(_choice(f, minimum, high) - f[2] for f in sel) / len(sel)
            always = sum(f[3] - f[2] for f in sel) / len(sel)
            print(f"  {variant:9} {group:8} {len(sel):3} files: rule {rule:+.2f} dB, "
                  f"always {always:+.2f} dB")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
