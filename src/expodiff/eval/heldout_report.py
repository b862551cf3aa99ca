"""The held-out benchmark's results (:mod:`expodiff.eval.heldout`): per-file CSV rows, and
the tables of mean PSNR per method by group, camera and condition, each model's difference
to BM3D and its wins against it."""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Sequence
from pathlib import Path

from .heldout import GROUPS, HeldoutFile
from .heldout_methods import BASELINES, noise_level

__all__ = [
    "FIELDS", "read_rows", "append_rows", "result_row", "write_results_csv", "collect",
    "report_tables", "timing_lines",
]  # fmt: skip

FIELDS = (
    "file", "image", "group", "camera", "iso", "ratio", "system_gain", "read_std",
    "psnr", "seconds", "stamp",
)  # fmt: skip


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else math.nan


def _fmt(value: float, signed: bool = False) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{value:+.2f}" if signed else f"{value:.2f}"


def collect(files: Sequence[HeldoutFile], results: dict[str, dict[str, dict]]):
    """{method: {file: psnr}} restricted to the set's files."""
    names = {f.name for f in files}
    return {
        m: {k: float(r["psnr"]) for k, r in rows.items() if k in names}
        for m, rows in results.items()
    }


def _table(
    rows_spec: Sequence[tuple[str, list[HeldoutFile]]],
    scores: dict[str, dict[str, float]],
    models: Sequence[str],
    first: str,
) -> list[str]:
    methods = [*models, *BASELINES]
    head = [first, "files", *methods]
    for m in models:
        head += [f"{m} - BM3D", f"{m} wins"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for label, group in rows_spec:
        names = [f.name for f in group]
        means = {m: _mean([scores[m][n] for n in names if n in scores.get(m, {})]) for m in methods}
        cells = [label, str(len(names)), *(_fmt(means[m]) for m in methods)]
        for m in models:
            both = [n for n in names if n in scores.get(m, {}) and n in scores.get("bm3d", {})]
            diff = _mean([scores[m][n] - scores["bm3d"][n] for n in both])
            wins = sum(scores[m][n] > scores["bm3d"][n] for n in both)
            cells += [_fmt(diff, signed=True), f"{wins}/{len(both)}" if both else "-"]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def report_tables(
    files: Sequence[HeldoutFile], scores: dict[str, dict[str, float]], models: Sequence[str]
) -> str:
    """Markdown: per group a table by camera (+ all) and one by condition; the totals."""
    out: list[str] = []
    for group in GROUPS:
        gfiles = [f for f in files if f.condition.group == group]
        if not gfiles:
            continue
        cameras = list(dict.fromkeys(f.condition.camera for f in gfiles))
        spec = [(c, [f for f in gfiles if f.condition.camera == c]) for c in cameras]
        spec.append(("**all**", gfiles))
        out += [f"### {group}: mean PSNR (dB) by camera", ""]
        out += _table(spec, scores, models, "camera") + [""]

        spec = []
        for cond in dict.fromkeys(f.condition for f in gfiles):
            cfiles = [f for f in gfiles if f.condition == cond]
            isos = sorted({f.iso for f in cfiles})
            iso = str(isos[0]) if len(isos) == 1 else f"{isos[0]}-{isos[-1]}"
            if cond.iso == "scene":
                iso += " (the scenes')"
            spec.append((f"{cond.camera} ISO {iso} x{cond.ratio}", cfiles))
        out += [f"### {group}: by camera, ISO and ratio", ""]
        out += _table(spec, scores, models, "condition") + [""]
    spec = [(g, [f for f in files if f.condition.group == g]) for g in GROUPS]
    spec = [s for s in spec if s[1]] + [("**all**", list(files))]
    out += ["### totals", ""] + _table(spec, scores, models, "group") + [""]
    return "\n".join(out)


def timing_lines(results: dict[str, dict[str, dict]], files, models) -> list[str]:
    names = {f.name for f in files}
    lines = []
    for m in [*models, *BASELINES]:
        secs = [
            float(r["seconds"])
            for k, r in results.get(m, {}).items()
            if k in names and r["seconds"]
        ]
        if secs:
            lines.append(f"- `{m}`: {_mean(secs):.1f} s per file (mean of {len(secs)})")
    return lines


def read_rows(path: Path) -> dict[str, dict]:
    """{file: row} of a method's result CSV (empty when there is none)."""
    if not path.is_file():
        return {}
    with open(path, newline="") as f:
        return {row["file"]: row for row in csv.DictReader(f)}


def append_rows(path: Path, rows: Sequence[dict]) -> None:
    """Append rows to a method's result CSV, flushed to disk (an interrupted run keeps them)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.is_file()
    with open(path, "a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS)
        if new:
            writer.writeheader()
        writer.writerows(rows)
        f.flush()
        os.fsync(f.fileno())


def result_row(f: HeldoutFile, value: float, seconds: float, stamp: str) -> dict:
    """One file's result: the file, its condition and true noise level, PSNR, seconds."""
    k, read_std = noise_level(f.condition.camera, f.iso)
    return {
        "file": f.name, "image": f.image, "group": f.condition.group,
        "camera": f.condition.camera, "iso": f.iso, "ratio": f.condition.ratio,
        "system_gain": f"{k:.6g}", "read_std": f"{read_std:.6g}", "psnr": f"{value:.4f}",
        "seconds": "" if seconds is None or math.isnan(seconds) else f"{seconds:.2f}",
        "stamp": stamp,
    }  # fmt: skip


def write_results_csv(path: Path, files, results, models) -> None:
    """The per-file results of every method, one CSV."""
    names = {f.name for f in files}
    rows = []
    for m in [*models, *BASELINES]:
        for k, r in sorted(results.get(m, {}).items()):
            if k in names:
                rows.append({"method": m, **r})
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=("method", *FIELDS))
        writer.writeheader()
        writer.writerows(rows)
