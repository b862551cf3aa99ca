"""The report's PNG figures (matplotlib, an optional extra; a missing package skips them).

Every function takes plain numbers and an output path, writes the PNG atomically and returns
the path (or None when matplotlib is not installed).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = ["line_plot", "grouped_bars", "have_matplotlib"]

_DPI = 110
_PANEL_SIZE_IN = (5.0, 3.6)  # one panel, inches


def have_matplotlib() -> bool:
    """Whether matplotlib can be imported."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _finish(plt, fig, title: str | None, path: Path) -> Path:
    """Title, lay out and save ``fig`` atomically to ``path``, then close it."""
    from expodiff.io.atomic import atomic_output

    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_output(path, overwrite=True) as tmp:
            fig.savefig(tmp, dpi=_DPI, bbox_inches="tight")
        return path
    finally:
        plt.close(fig)


def line_plot(
    path: Path,
    panels: Sequence[tuple[str, Mapping[str, Sequence[tuple[float, float]]]]],
    *,
    xlabel: str,
    ylabel: str,
    title: str = "",
    log_x: bool = False,
) -> Path | None:
    """Side-by-side panels of labelled lines.

    Args:
        path: output PNG.
        panels: ``(panel title, {line label: [(x, y), ...]})`` per panel.
        xlabel, ylabel: axis labels (shared).
        title: figure title.
        log_x: logarithmic x axis.
    """
    if not have_matplotlib():
        return None
    plt = _pyplot()
    n = max(1, len(panels))
    fig, axes = plt.subplots(
        1, n, figsize=(_PANEL_SIZE_IN[0] * n, _PANEL_SIZE_IN[1]), squeeze=False
    )
    for ax, (panel_title, lines) in zip(axes[0], panels, strict=False):
        for label, points in lines.items():
            pts = [(x, y) for x, y in points if math.isfinite(y)]
            if not pts:
                continue
            xs, ys = zip(*pts, strict=True)
            ax.plot(xs, ys, marker="o", markersize=3, label=label)
        ax.set_title(panel_title, fontsize=10)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        if log_x:
            ax.set_xscale("log")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    return _finish(plt, fig, title, path)


def grouped_bars(
    path: Path,
    panels: Sequence[tuple[str, Sequence[str], Mapping[str, Sequence[float]]]],
    *,
    ylabel: str,
    title: str = "",
    log_y: bool = False,
    zoom: bool = True,
) -> Path | None:
    """Side-by-side panels of grouped bar charts.

    Args:
        path: output PNG.
        panels: ``(panel title, group names, {series label: one value per group})``.
        ylabel: y axis label.
        title: figure title.
        log_y: logarithmic y axis.
        zoom: linear axes start near the smallest value instead of 0 (PSNR-like values).
    """
    if not have_matplotlib():
        return None
    plt = _pyplot()
    n = max(1, len(panels))
    fig, axes = plt.subplots(
        1, n, figsize=(_PANEL_SIZE_IN[0] * n, _PANEL_SIZE_IN[1]), squeeze=False
    )
    for ax, (panel_title, groups, series) in zip(axes[0], panels, strict=False):
        k = max(1, len(series))
        width = 0.8 / k
        for i, (label, values) in enumerate(series.items()):
            xs = [g + (i - (k - 1) / 2) * width for g in range(len(groups))]
            ys = [v if math.isfinite(v) else 0.0 for v in values]
            ax.bar(xs, ys, width=width, label=label)
        ax.set_xticks(range(len(groups)))
        ax.set_xticklabels(groups, fontsize=8, rotation=15)
        ax.set_title(panel_title, fontsize=10)
        ax.set_ylabel(ylabel)
        if log_y:
            ax.set_yscale("log")
        elif zoom:
            finite = [v for vals in series.values() for v in vals if math.isfinite(v)]
            if finite and min(finite) > 0:  # PSNR-like values: zoom onto the differences
                lo, hi = min(finite), max(finite)
                pad = max(0.5, 0.15 * (hi - lo))
                ax.set_ylim(max(0.0, lo - pad), hi + pad)
        ax.grid(True, axis="y", alpha=0.3)
        ax.legend(fontsize=7)
    return _finish(plt, fig, title, path)
