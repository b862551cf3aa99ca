"""Assemble ``docs/benchmarks.md``: tables, figures, CSVs and the command under each table.

:func:`write_document` renders whatever results exist (a table whose methods were not
evaluated yet says so), writes the plots to ``<out folder>/images/bench_*.png`` and the raw
tables to ``<out folder>/benchmarks/*.csv``, and keeps the hand-written analysis blocks of
the previous report (:func:`~benchmarks.paper.report.kept_analysis`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from expodiff.eval.report import ImageResult

from . import plots
from .bench_config import BenchConfig, BenchTable
from .machine import Machine
from .plan import TABLES, MethodSpec, TableSpec, figure6_methods
from .report import (
    analysis_block,
    fmt,
    kept_analysis,
    kept_tail,
    markdown_table,
    mean_metric,
    psnr_ssim_table,
    ratio_label,
    write_csv,
)
from .speed import SpeedResult

__all__ = ["TrainInfo", "ReportData", "write_document"]

_METRICS = ("psnr", "ssim", "psnr_gt", "ssim_gt", "hl_psnr", "hl_mae", "hl_psnr_gt", "hl_mae_gt")


@dataclass(frozen=True)
class TrainInfo:
    """A trained run as the report lists it."""

    key: str
    base: str
    overrides: tuple[str, ...]
    summary: str
    params: int | None
    steps_done: int
    seconds_per_step: float | None
    elapsed_s: float | None


@dataclass
class ReportData:
    """Everything the report shows (collected by :mod:`benchmarks.paper.runner`)."""

    bench: BenchConfig
    command: str  # the benchmark command without --only (re-run lines append it)
    machine: Machine  # measured when the report is collected
    protocol_notes: list[str]
    results: dict[str, list[ImageResult]] = field(default_factory=dict)  # by method key
    training: list[TrainInfo] = field(default_factory=list)
    speed: list[SpeedResult] = field(default_factory=list)
    costs: list[dict] = field(default_factory=list)
    preamble: str = ""  # the report's fixed text (setup, deviations from the paper)

    def get(self, spec: MethodSpec) -> list[ImageResult] | None:
        """The per-image results of ``spec``, or None when it was not evaluated yet."""
        return self.results.get(spec.key)


def _rerun(data: ReportData, table: BenchTable) -> str:
    return f"Re-run: `{data.command} --only {table.value}`\n"


def _table_csv(path: Path, table: TableSpec, data: ReportData) -> Path:
    rows = []
    for section, methods in table.sections:
        for m in methods:
            results = data.get(m) or []
            for ratio in sorted({r.ratio for r in results}):
                sel = [r for r in results if r.ratio == ratio]
                means = [mean_metric(sel, k) for k in _METRICS]
                secs = sum(r.seconds for r in sel) / len(sel)
                rows.append([section, m.label, m.key, ratio, len(sel), *means, secs])
    header = ["section", "method", "method_key", "ratio", "images", *_METRICS, "s_per_image"]
    return write_csv(path, header, rows)


def _ratio_section(data: ReportData, table: TableSpec, csv_name: str) -> str:
    ratios = data.bench.eval.ratios
    out = []
    for section, methods in table.sections:
        if section:
            out.append(f"### {section}\n\n")
        rows = [(m.label, data.get(m)) for m in methods]
        out.append("As measured (no ground truth used):\n\n")
        out.append(psnr_ssim_table(rows, ratios, corrected=False))
        out.append(
            "\nGT-corrected (oracle least-squares brightness match, the official metric):\n\n"
        )
        out.append(psnr_ssim_table(rows, ratios, corrected=True, seconds=False))
        out.append("\n")
    out.append(f"Raw numbers: [{csv_name}]({csv_name}). {_rerun(data, table.table)}")
    return "".join(out)


def _table6_plot(data: ReportData, images: Path) -> str:
    table = TABLES[BenchTable.TABLE6]
    panels = []
    for title, key in (("as measured", "psnr"), ("GT-corrected", "psnr_gt")):
        lines = {}
        for m in table.methods():
            res = data.get(m)
            if res:
                lines[m.label] = [(r, mean_metric(res, key, r)) for r in data.bench.eval.ratios]
        panels.append((title, lines))
    path = plots.line_plot(
        images / "bench_table6_ratios.png",
        panels,
        xlabel="exposure ratio",
        ylabel="PSNR (dB, packed raw)",
        title="Trained at x100 only vs x100-x300",
    )
    return f"![Table 6 analogue](images/{path.name})\n\n" if path else ""


def _costs_table(data: ReportData) -> str:
    rows = [
        [
            f"`{c['name']}`",
            c["architecture"],
            f"{c['params']:,}",
            f"{c['params_thop']:,}",
            _human(c["paper_params"]),
            fmt(c["gflops_per_mp"]),
        ]
        for c in data.costs
    ]
    header = ["preset", "architecture", "parameters", "thop-style", "paper", "GFLOP/MP"]
    return markdown_table(header, rows, left=2)


def _human(n: int | None) -> str:
    if n is None:
        return "–"
    return f"{n / 1e6:.2f} M" if n >= 1e6 else f"{n / 1e3:.1f} K"


def _fig5_section(data: ReportData, images: Path, csv_dir: Path) -> str:
    table = TABLES[BenchTable.FIG5]
    ratios = data.bench.eval.ratios
    pct = f"{100 * data.bench.eval.highlight_fraction:g} %"
    out = [_ratio_section(data, table, "benchmarks/fig5.csv")]
    _table_csv(csv_dir / "fig5.csv", table, data)
    for title, suffix in (("As measured", ""), ("GT-corrected", "_gt")):
        rows = []
        for m in table.methods():
            res = data.get(m)
            cells = [
                f"{fmt(mean_metric(res, 'hl_psnr' + suffix, r))} / "
                f"{fmt(mean_metric(res, 'hl_mae' + suffix, r), 4)}"
                if res
                else "not run"
                for r in ratios
            ]
            rows.append([m.label, *cells])
        header = ["method", *[f"{ratio_label(r)} PSNR / MAE" for r in ratios]]
        out.append(f"\n{title}, brightest {pct} of the reference values only:\n\n")
        out.append(markdown_table(header, rows))
    groups = [ratio_label(r) for r in ratios]
    panels = []
    for title, key in (("all pixels", "psnr"), (f"brightest {pct}", "hl_psnr")):
        series = {
            m.label: [mean_metric(data.get(m) or [], key, r) for r in ratios]
            for m in table.methods()
            if data.get(m)
        }
        panels.append((title, groups, series))
    path = plots.grouped_bars(
        images / "bench_fig5_arl.png", panels, ylabel="PSNR (dB)", title="ARL on vs off"
    )
    if path:
        out.append(f"\n![Figure 5 analogue](images/{path.name})\n")
    return "".join(out)


def _fig6_section(data: ReportData, images: Path, csv_dir: Path) -> str:
    steps = data.bench.eval.figure_steps
    methods = figure6_methods(steps)
    lines: dict[str, dict[int, list[ImageResult]]] = {}
    for m in methods:
        res = data.get(m)
        if res:
            lines.setdefault(m.label, {})[m.steps] = res
    csv_rows = []
    for label, by_s in lines.items():
        for s, res in sorted(by_s.items()):
            for ratio in sorted({r.ratio for r in res}):
                sel = [r for r in res if r.ratio == ratio]
                csv_rows.append(
                    [label, s, ratio, len(sel), *[mean_metric(sel, k) for k in _METRICS[:4]]]
                )
    write_csv(
        csv_dir / "fig6.csv",
        ["method", "steps", "ratio", "images", *_METRICS[:4]],
        csv_rows,
    )
    n_inputs = len(next(iter(next(iter(lines.values())).values()))) if lines else 0
    out = [
        f"Mean PSNR (dB) over {n_inputs} inputs (the first {data.bench.eval.figure_images} "
        f"images x {len(data.bench.eval.ratios)} ratios) per number of network evaluations S; "
        "the models are the Table 2 ones (S = 3 for ExposureDiffusion in training and by "
        "default, S = 1 for the feed-forward one).\n\n"
    ]
    panels = []
    for title, key in (("As measured", "psnr"), ("GT-corrected", "psnr_gt")):
        header = ["method", *[f"S={s}" for s in steps]]
        rows = [
            [label, *[fmt(mean_metric(by_s.get(s) or [], key)) for s in steps]]
            for label, by_s in lines.items()
        ]
        out.append(f"{title}:\n\n{markdown_table(header, rows)}\n")
        panels.append(
            (
                title.lower(),
                {
                    label: [(s, mean_metric(by_s[s], key)) for s in steps if s in by_s]
                    for label, by_s in lines.items()
                },
            )
        )
    path = plots.line_plot(
        images / "bench_fig6_steps.png",
        panels,
        xlabel="inference steps S (network evaluations)",
        ylabel="PSNR (dB, packed raw)",
        title="PSNR vs inference steps",
    )
    if path:
        out.append(f"![Figure 6 analogue](images/{path.name})\n\n")
    out.append("Raw numbers: [benchmarks/fig6.csv](benchmarks/fig6.csv). ")
    out.append(_rerun(data, BenchTable.FIG6))
    return "".join(out)


# the speed table's columns, one per value of a _speed_row
_SPEED_HEADER = [
    "model",
    "allocator",
    "parameters",
    "GFLOP/MP",
    "S",
    "s/frame",
    "ms/MP",
    "peak RSS (MiB)",
    "RSS before (MiB)",
    "load",
]
# speed.csv's columns, one per value of a _speed_csv_row
_SPEED_CSV_HEADER = (
    "model allocator steps height width threads tile seconds ms_per_mp peak_rss_mib "
    "rss_before_mib load_avg error"
).split()


def _speed_section(data: ReportData, images: Path, csv_dir: Path) -> str:
    """The speed table (with each preset's cost), ``speed.csv`` and the two bar plots."""
    costs = {c["name"]: c for c in data.costs}
    rows = [_speed_row(s, costs.get(s.model, {})) for s in data.speed]
    write_csv(csv_dir / "speed.csv", _SPEED_CSV_HEADER, [_speed_csv_row(s) for s in data.speed])
    out = [markdown_table(_SPEED_HEADER, rows) if rows else "_Not measured yet._\n"]
    out.extend(_speed_plots(data, images))
    out.append("\nRaw numbers: [benchmarks/speed.csv](benchmarks/speed.csv). ")
    out.append(_rerun(data, BenchTable.SPEED))
    return "".join(out)


def _ms_per_mp(s: SpeedResult) -> float:
    """Milliseconds per megapixel (NaN for a failed run)."""
    return 1000 * s.seconds / s.megapixels if math.isfinite(s.seconds) else math.nan


def _speed_row(s: SpeedResult, cost: dict) -> list[str]:
    """One row of the speed table; ``cost`` is the preset's entry of ``data.costs`` or {}."""
    seconds = fmt(s.seconds, 1 if s.seconds >= 10 else 2) if not s.error else f"failed: {s.error}"
    return [
        f"`{s.model}`",
        s.allocator,
        f"{cost['params']:,}" if cost else "–",
        fmt(cost["gflops_per_mp"]) if cost else "–",
        str(s.steps),
        seconds,
        fmt(_ms_per_mp(s), 0),
        fmt(s.peak_rss_mb, 0),
        fmt(s.rss_before_mb, 0),
        fmt(s.load_avg, 1),
    ]


def _speed_csv_row(s: SpeedResult) -> list:
    """One row of ``speed.csv`` (raw values)."""
    return [
        *(s.model, s.allocator, s.steps, s.height, s.width, s.threads, s.tile or 0, s.seconds),
        *(_ms_per_mp(s), s.peak_rss_mb, s.rss_before_mb, s.load_avg, s.error),
    ]


def _speed_plots(data: ReportData, images: Path) -> list[str]:
    """Bar plots of time and peak memory per model, one bar per (steps, allocator)."""
    models = list(dict.fromkeys(s.model for s in data.speed))
    if not models:
        return []
    variants = sorted({(s.steps, s.allocator) for s in data.speed})
    mp = f"{4 * data.bench.speed.height * data.bench.speed.width / 1e6:.3g} MP"
    runs: dict[tuple[str, int, str], SpeedResult] = {}  # the first run of each bar
    for s in data.speed:
        runs.setdefault((s.model, s.steps, s.allocator), s)
    out = []
    for name, attr, title, log_y in (
        ("bench_speed.png", "seconds", f"seconds per {mp} frame", True),
        ("bench_memory.png", "peak_rss_mb", f"peak RSS (MiB), {mp} frame", False),
    ):
        series = {
            f"S={k}, {a} allocator": [
                getattr(runs[m, k, a], attr) if (m, k, a) in runs else math.nan for m in models
            ]
            for k, a in variants
        }
        path = plots.grouped_bars(
            images / name, [(title, models, series)], ylabel=title, log_y=log_y, zoom=False
        )
        if path:
            out.append(f"\n![{title}](images/{path.name})\n")
    return out


def write_document(data: ReportData, out: Path, sections: Sequence[tuple[BenchTable, str]]) -> Path:
    """Render the report into ``out`` (plots and CSVs beside it) and return ``out``.

    Args:
        data: the collected results.
        out: the Markdown file (its folder gets ``images/`` and ``benchmarks/``).
        sections: ``(table, intro paragraph)`` in report order.
    """
    from expodiff.io.atomic import atomic_output

    images, csv_dir = out.parent / "images", out.parent / "benchmarks"
    kept = kept_analysis(out)
    parts = [data.preamble]
    for table, intro in sections:
        title = (
            TABLES[table].title
            if table in TABLES
            else {
                BenchTable.FIG6: "Figure 6 analogue: PSNR vs inference steps (nafnet1, P+G)",
                BenchTable.SPEED: "Speed and memory: one full 12-megapixel frame on this CPU",
            }[table]
        )
        parts.append(f"## {title}\n\n{intro}\n\n")
        if table is BenchTable.FIG5:
            parts.append(_fig5_section(data, images, csv_dir))
        elif table is BenchTable.FIG6:
            parts.append(_fig6_section(data, images, csv_dir))
        elif table is BenchTable.SPEED:
            parts.append(_speed_section(data, images, csv_dir))
        else:
            name = f"benchmarks/{table.value}.csv"
            _table_csv(csv_dir / f"{table.value}.csv", TABLES[table], data)
            parts.append(_ratio_section(data, TABLES[table], name))
            if table is BenchTable.TABLE6:
                parts.append("\n" + _table6_plot(data, images))
            if table is BenchTable.TABLE5:
                parts.append(
                    "\nTable 5b: size and cost of every preset (photon conditioning and ARL, "
                    "8 input / 9 output channels; GFLOP per megapixel of the raw mosaic, one "
                    "network evaluation):\n\n" + _costs_table(data)
                )
        parts.append("\n" + analysis_block(table.value, kept) + "\n")
    tail = kept_tail(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(out, overwrite=True) as tmp:
        tmp.write_text("".join(parts).rstrip() + "\n" + ("\n" + tail if tail else ""))
    return out
