"""Formatting primitives of the benchmark report: means, Markdown tables, CSV, kept analysis.

The report (``docs/benchmarks.md``) is generated, but the per-table analysis paragraphs are
written by people from the measured numbers. They live between the markers
``<!-- analysis:NAME -->`` and ``<!-- /analysis:NAME -->``; :func:`kept_analysis` reads them
from the previous report so regenerating it keeps them (a placeholder is written where
there is none yet).
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from expodiff.eval.report import ImageResult

__all__ = [
    "mean_metric",
    "count_images",
    "fmt",
    "ratio_label",
    "markdown_table",
    "psnr_ssim_table",
    "write_csv",
    "kept_analysis",
    "analysis_block",
    "ANALYSIS_PLACEHOLDER",
]

ANALYSIS_PLACEHOLDER = "_Analysis pending: to be written from the measured numbers above._"
_BLOCK = re.compile(
    r"<!-- analysis:(?P<name>[\w-]+) -->\n(?P<body>.*?)\n<!-- /analysis:(?P=name) -->", re.S
)


def mean_metric(results: Iterable[ImageResult], key: str, ratio: float | None = None) -> float:
    """Mean of metric ``key`` over the results (of one ``ratio``, or all); NaN if none."""
    values = [
        r.metrics[key] for r in results if key in r.metrics and (ratio is None or r.ratio == ratio)
    ]
    return sum(values) / len(values) if values else math.nan


def count_images(results: Iterable[ImageResult], ratio: float | None = None) -> int:
    """Number of (image, ratio) results, of one ratio or all."""
    return sum(1 for r in results if ratio is None or r.ratio == ratio)


def fmt(value: float, digits: int = 2) -> str:
    """A number for a table cell ("–" for NaN, "inf" for infinity)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if math.isinf(value):
        return "inf"
    return f"{value:.{digits}f}"


def ratio_label(ratio: float) -> str:
    """``x100`` for 100.0, ``x2.5`` for 2.5."""
    return f"x{int(ratio)}" if float(ratio).is_integer() else f"x{ratio:g}"


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[str]], left: int = 1) -> str:
    """A GitHub Markdown table: the first ``left`` columns left-aligned, the rest right-aligned."""
    lines = ["| " + " | ".join(header) + " |"]
    lines.append("|" + "|".join(["---" if i < left else "---:" for i in range(len(header))]) + "|")
    for row in rows:
        lines.append("| " + " | ".join(str(c) for c in row) + " |")
    return "\n".join(lines) + "\n"


def psnr_ssim_table(
    rows: Sequence[tuple[str, Sequence[ImageResult] | None]],
    ratios: Sequence[float],
    *,
    corrected: bool,
    seconds: bool = True,
) -> str:
    """Methods x ratios, cells ``PSNR / SSIM`` (as measured, or GT-corrected), plus images.

    Args:
        rows: ``(label, results)``; ``None`` results render as "not run".
        ratios: the columns.
        corrected: use the GT-corrected metrics (``psnr_gt``, ``ssim_gt``).
        seconds: add the mean seconds per image (all ratios).
    """
    pk, sk = ("psnr_gt", "ssim_gt") if corrected else ("psnr", "ssim")
    header = ["method", *[f"{ratio_label(r)} PSNR / SSIM" for r in ratios], "images"]
    if seconds:
        header.append("s/image")
    body = []
    for label, results in rows:
        if results is None:
            body.append([label, *["not run"] * len(ratios), "–", *(["–"] if seconds else [])])
            continue
        cells = [
            f"{fmt(mean_metric(results, pk, r))} / {fmt(mean_metric(results, sk, r), 4)}"
            for r in ratios
        ]
        counts = {count_images(results, r) for r in ratios}
        row = [label, *cells, "/".join(str(c) for c in sorted(counts))]
        if seconds:
            secs = [x.seconds for x in results]
            row.append(fmt(sum(secs) / len(secs)) if secs else "–")
        body.append(row)
    return markdown_table(header, body)


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence]) -> Path:
    """Write a CSV atomically (replacing an older one)."""
    from expodiff.io.atomic import atomic_output

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path, overwrite=True) as tmp:
        with open(tmp, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(list(header))
            for row in rows:
                w.writerow([f"{v:.6g}" if isinstance(v, float) else v for v in row])
    return path


def kept_analysis(report: Path) -> dict[str, str]:
    """The hand-written analysis blocks of an earlier report (name -> text)."""
    if not report.is_file():
        return {}
    return {m["name"]: m["body"] for m in _BLOCK.finditer(report.read_text())}


def analysis_block(name: str, kept: dict[str, str]) -> str:
    """The analysis block ``name``: the kept text, or the placeholder."""
    body = kept.get(name, "").strip() or ANALYSIS_PLACEHOLDER
    return f"<!-- analysis:{name} -->\n{body}\n<!-- /analysis:{name} -->\n"


# Everything after this line of the report is hand-written (measurements made outside
# `python -m benchmarks.paper`, e.g. an ablation or a held-out set) and kept when it is regenerated.
KEPT_TAIL_MARKER = "<!-- kept: sections below are not generated by benchmarks/paper -->"


def kept_tail(report: Path) -> str:
    """The hand-written end of an earlier report, from :data:`KEPT_TAIL_MARKER` on ('' if none)."""
    if not report.is_file():
        return ""
    text = report.read_text()
    at = text.find(KEPT_TAIL_MARKER)
    return "" if at < 0 else text[at:].rstrip() + "\n"
