"""Photon transfer: the system gain K of one ISO from pairs of flat-field frames.

Two frames of the same even scene at the same ISO and exposure are paired; for each pair and
Bayer channel the difference cancels fixed patterns and uneven illumination, so

    var(A - B) / 2 = K * mean + c

(mean: DN above the dark colour bias). A line weighted by ``1 / var^2`` (the variance of a
variance estimate grows as its square) through the points of one ISO, plus optional
``(0, var)`` points from dark pairs, gives K (ELD, Wei et al., CVPR 2020, §4). Used by
:func:`expodiff.noise.calibrate.calibrate_frames`.

:func:`fit_transfer_line` is the weighted line of both photon-transfer fits: this one, and
the blind fit of a single frame's flat blocks (:mod:`expodiff.inference.gain`).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .estimators import CalibrationError, CalibrationFrame

__all__ = ["SATURATION_FRACTION", "GainFit", "fit_transfer_line", "pair_flats", "estimate_gain"]

# Flat-field points whose channel mean is above this fraction of the range, or whose pixels
# reach the white level, are left out of the photon-transfer fit (clipping bends the curve).
SATURATION_FRACTION = 0.8


def fit_transfer_line(mean, var, weights) -> tuple[float, float, float]:
    """Weighted least squares ``var = K mean + c``: ``(K, c, standard error of K)``.

    Args:
        mean, var, weights: 1-D arrays (numpy or CPU tensors) of the points and their
            relative weights.

    Returns:
        ``(K, c, error)``; the error comes from the residual scatter (weights are relative)
        and is infinite for fewer than three points; a single distinct mean gives ``K = 0``
        and ``c`` the weighted mean of ``var``.
    """
    x, y, wt = (np.asarray(a, dtype=np.float64).ravel() for a in (mean, var, weights))
    w = wt / wt.sum()
    mx, my = float((w * x).sum()), float((w * y).sum())
    sxx = float((w * (x - mx) ** 2).sum())
    if sxx <= 0 or x.size < 2:
        return 0.0, my, math.inf
    k = float((w * (x - mx) * (y - my)).sum()) / sxx
    c = my - k * mx
    if x.size < 3:
        return k, c, math.inf
    s2 = float((wt * (y - k * x - c) ** 2).sum()) / (x.size - 2)
    return k, c, math.sqrt(s2 / float((wt * (x - mx) ** 2).sum()))


@dataclass(frozen=True)
class GainFit:
    """Photon-transfer fit of one ISO: ``var = K * mean + intercept`` (DN, DN^2)."""

    iso: float
    system_gain: float
    intercept: float
    points: tuple[tuple[float, float], ...]  # (mean DN above bias, var(A-B)/2)
    pairs: int


def pair_flats(frames: Sequence[CalibrationFrame], *, tolerance: float = 0.1) -> list[tuple]:
    """Pair flat frames of one ISO: sorted by level, neighbours within ``tolerance`` pair up.

    Frames whose mean level differs from every unpaired neighbour by more than the relative
    tolerance stay single (and are ignored, with a warning from :func:`estimate_gain`).
    """
    levels = sorted(frames, key=lambda f: (float(np.mean(f.mosaic)), f.name))
    pairs, i = [], 0
    while i + 1 < len(levels):
        a, b = levels[i], levels[i + 1]
        ma = float(np.mean(a.mosaic)) - float(np.mean(a.black_level))
        mb = float(np.mean(b.mosaic)) - float(np.mean(b.black_level))
        if abs(ma - mb) <= tolerance * max(abs(ma), abs(mb), 1e-9):
            pairs.append((a, b))
            i += 2
        else:
            i += 1
    return pairs


def _flat_points(pairs, bias: np.ndarray) -> tuple[list[tuple[float, float]], list[str]]:
    """The ``(mean DN above bias, var(A - B) / 2)`` points of the flat pairs' channels, and the
    pairs with a channel left out for clipping at (or near) the white level."""
    points = []
    clipped_pairs: list[str] = []
    for a, b in pairs:
        pa, pb = a.packed_above_black(), b.packed_above_black()
        limit = SATURATION_FRACTION * a.range_dn
        white_above = a.white_level - np.asarray(a.black_level)
        for c in range(4):
            mean = 0.5 * (float(pa[c].mean()) + float(pb[c].mean())) - float(bias[c])
            clipped = bool(np.any(pa[c] >= white_above[c]) or np.any(pb[c] >= white_above[c]))
            if clipped or mean > limit:
                name = " / ".join(f.name for f in (a, b) if f.name) or "a flat pair"
                if name not in clipped_pairs:
                    clipped_pairs.append(name)
                continue
            if mean <= 0:
                continue
            points.append((mean, float((pa[c] - pb[c]).var(ddof=1)) / 2.0))
    return points, clipped_pairs


def estimate_gain(
    flats: Sequence[CalibrationFrame],
    *,
    colour_bias: Sequence[float] | None = None,
    dark_points: Sequence[tuple[float, float]] = (),
) -> GainFit:
    """System gain K of one ISO by photon transfer on flat pairs (see the module docstring).

    Args:
        flats: flat frames of one ISO (paired by :func:`pair_flats`).
        colour_bias: per-channel dark offset (DN) subtracted from the means; None: 0.
        dark_points: extra ``(0, var)`` points from dark pairs.

    Raises:
        CalibrationError: no pair, or the usable points span too narrow a signal range.
    """
    if not flats:
        raise CalibrationError("no flat frames")
    iso = flats[0].iso
    pairs = pair_flats(flats)
    if not pairs:
        raise CalibrationError(
            f"ISO {iso:g}: no pair of flat frames at the same brightness (need two frames per "
            "level, means within 10 %)"
        )
    unpaired = len(flats) - 2 * len(pairs)
    if unpaired:
        warnings.warn(
            f"ISO {iso:g}: {unpaired} flat frame(s) without a partner ignored", stacklevel=2
        )
    bias = np.zeros(4) if colour_bias is None else np.asarray(colour_bias, dtype=np.float64)
    points, clipped_pairs = _flat_points(pairs, bias)
    signal = [m for m, _ in points]
    if clipped_pairs:
        shown = ", ".join(clipped_pairs[:3]) + (
            f" (+{len(clipped_pairs) - 3} more)" if len(clipped_pairs) > 3 else ""
        )
        if not signal:
            raise CalibrationError(
                f"ISO {iso:g}: every flat pair is clipped at the white level or within "
                f"{100 * (1 - SATURATION_FRACTION):g} % of it ({shown}); clipping hides the "
                "photon noise: shoot the flats darker (shorter exposure)"
            )
        warnings.warn(
            f"ISO {iso:g}: flat pair(s) {shown} clipped at the white level or within "
            f"{100 * (1 - SATURATION_FRACTION):g} % of it in some channels; those channels are "
            "left out of the photon-transfer fit",
            stacklevel=2,
        )
    if not signal or max(signal) < 2.0 * min(signal) and not dark_points:
        raise CalibrationError(
            f"ISO {iso:g}: the flat pairs give too narrow a range of signal levels to fit K "
            "(add flats at another brightness, or two dark frames at this ISO)"
        )
    all_points = list(dark_points) + points
    m = np.array([p[0] for p in all_points])
    v = np.array([p[1] for p in all_points])
    w = 1.0 / np.maximum(v, 1e-12) ** 2  # var of a variance estimate ~ v^2
    k, c, _ = fit_transfer_line(m, v, w)
    if not k > 0:
        raise CalibrationError(f"ISO {iso:g}: photon-transfer fit gives K = {k:.4g} <= 0")
    return GainFit(
        iso=float(iso),
        system_gain=float(k),
        intercept=float(c),
        points=tuple(points),
        pairs=len(pairs),
    )
