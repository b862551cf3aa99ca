"""Evaluation results as tables: per-image CSV, summary CSV and a Markdown report.

Every number appears twice, clearly labelled: as measured (``PSNR``, ``SSIM``) and after the
oracle ground-truth brightness correction (``PSNR (GT-corrected)``, ...), the number the
ExposureDiffusion / ELD tables report. See :mod:`expodiff.eval.metrics`.
"""

from __future__ import annotations

import csv
import io
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "ImageResult",
    "SummaryRow",
    "summarise",
    "markdown_report",
    "write_report",
    "METRIC_LABELS",
]

# metric key -> column label
METRIC_LABELS: dict[str, str] = {
    "psnr": "PSNR",
    "ssim": "SSIM",
    "psnr_gt": "PSNR (GT-corrected)",
    "ssim_gt": "SSIM (GT-corrected)",
    "psnr_srgb": "sRGB PSNR",
    "ssim_srgb": "sRGB SSIM",
    "psnr_srgb_gt": "sRGB PSNR (GT-corrected)",
    "ssim_srgb_gt": "sRGB SSIM (GT-corrected)",
}


@dataclass(frozen=True)
class ImageResult:
    """The metrics of one method on one image at one ratio."""

    method: str
    ratio: float
    image: str
    metrics: dict[str, float]
    group: str = ""  # e.g. the camera of the eld protocol; "" when not grouped
    seconds: float = 0.0


@dataclass(frozen=True)
class SummaryRow:
    """Mean metrics of one method at one ratio (and group) over ``count`` images."""

    method: str
    ratio: float
    group: str
    count: int
    metrics: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0  # mean seconds per image


def _ratio_label(r: float) -> str:
    return f"x{int(r)}" if float(r).is_integer() else f"x{r:g}"


def summarise(results: Iterable[ImageResult]) -> list[SummaryRow]:
    """Mean of each metric per (group, ratio, method), in first-seen method order."""
    buckets: dict[tuple[str, float, str], list[ImageResult]] = defaultdict(list)
    order: dict[str, int] = {}
    for r in results:
        buckets[(r.group, r.ratio, r.method)].append(r)
        order.setdefault(r.method, len(order))
    rows = []
    for (group, ratio, method), items in sorted(
        buckets.items(), key=lambda kv: (kv[0][0], kv[0][1], order[kv[0][2]])
    ):
        keys = [k for k in METRIC_LABELS if all(k in i.metrics for i in items)]
        means = {k: sum(i.metrics[k] for i in items) / len(items) for k in keys}
        secs = sum(i.seconds for i in items) / len(items)
        rows.append(SummaryRow(method, ratio, group, len(items), means, secs))
    return rows


def _fmt(key: str, value: float) -> str:
    if math.isinf(value):
        return "inf"
    return f"{value:.4f}" if key.startswith("ssim") else f"{value:.2f}"


def markdown_report(
    rows: Sequence[SummaryRow], *, title: str = "Evaluation", notes: Sequence[str] = ()
) -> str:
    """One Markdown table per (group, ratio): methods as rows, metrics as columns."""
    out = io.StringIO()
    out.write(f"# {title}\n\n")
    for n in notes:
        out.write(f"{n}\n\n")
    out.write(
        "PSNR/SSIM on the packed raw, clipped to [0, 1], data range 1; SSIM with a 7x7 uniform "
        "window per plane, averaged. **GT-corrected** columns rescale each prediction to the "
        "ground truth by least squares first (the official ExposureDiffusion/ELD evaluation); "
        "they use the reference and are not achievable in practice.\n\n"
    )
    tables: dict[tuple[str, float], list[SummaryRow]] = defaultdict(list)
    for r in rows:
        tables[(r.group, r.ratio)].append(r)
    for (group, ratio), items in tables.items():
        head = f"{group} " if group else ""
        out.write(f"## {head}{_ratio_label(ratio)}\n\n")
        keys = [k for k in METRIC_LABELS if all(k in i.metrics for i in items)]
        cols = ["method"] + [METRIC_LABELS[k] for k in keys] + ["images", "s/image"]
        out.write("| " + " | ".join(cols) + " |\n")
        out.write("|" + "|".join(["---"] + ["---:"] * (len(cols) - 1)) + "|\n")
        for i in items:
            vals = [i.method] + [_fmt(k, i.metrics[k]) for k in keys]
            vals += [str(i.count), f"{i.seconds:.2f}"]
            out.write("| " + " | ".join(vals) + " |\n")
        out.write("\n")
    return out.getvalue()


def _write_csv(path: Path, header: list[str], rows: Iterable[list]) -> None:
    from ..io.atomic import atomic_output

    with atomic_output(path, overwrite=True) as tmp:
        with open(tmp, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(header)
            w.writerows(rows)


def write_report(
    folder: str | Path,
    results: Sequence[ImageResult],
    *,
    title: str = "Evaluation",
    notes: Sequence[str] = (),
) -> dict[str, Path]:
    """Write ``per_image.csv``, ``summary.csv`` and ``report.md`` into ``folder``."""
    from ..io.atomic import atomic_output

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    keys = [k for k in METRIC_LABELS if any(k in r.metrics for r in results)]
    _write_csv(
        folder / "per_image.csv",
        ["method", "group", "ratio", "image", *keys, "seconds"],
        (
            [
                r.method,
                r.group,
                r.ratio,
                r.image,
                *[r.metrics.get(k, "") for k in keys],
                f"{r.seconds:.4f}",
            ]
            for r in results
        ),
    )
    rows = summarise(results)
    _write_csv(
        folder / "summary.csv",
        ["method", "group", "ratio", "images", *keys, "seconds_per_image"],
        (
            [
                r.method,
                r.group,
                r.ratio,
                r.count,
                *[r.metrics.get(k, "") for k in keys],
                f"{r.seconds:.4f}",
            ]
            for r in rows
        ),
    )
    with atomic_output(folder / "report.md", overwrite=True) as tmp:
        tmp.write_text(markdown_report(rows, title=title, notes=notes))
    return {
        "per_image": folder / "per_image.csv",
        "summary": folder / "summary.csv",
        "report": folder / "report.md",
    }
