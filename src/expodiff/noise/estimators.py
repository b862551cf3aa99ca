"""Calibration estimators on arrays: frames, Tukey-lambda PPCC fit, dark stats, joint fit.

The pieces :func:`expodiff.noise.calibrate.calibrate_frames` combines (see that module for
the method); each works on :class:`CalibrationFrame` arrays and is tested on its own. The
photon-transfer fit of the system gain K on flat pairs is in
:mod:`expodiff.noise.photon_transfer`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

import numpy as np

from ..errors import DataError
from ..raw import CFAPattern
from .camera import LogLinear

__all__ = [
    "DARK_LEVEL_FRACTION",
    "MIN_SCALE_DN",
    "PPCC_SAMPLES",
    "CalibrationError",
    "FrameKind",
    "CalibrationFrame",
    "classify_frame",
    "TukeyFit",
    "fit_tukey_lambda",
    "DarkStats",
    "estimate_dark_stats",
    "fit_log_linear",
]

# A frame whose median is below this fraction of (white - black) above black is a dark frame
# (unless its file name says otherwise); see classify_frame.
DARK_LEVEL_FRACTION = 0.01
# Floor for a measured scale before its log is taken (a camera without row noise).
MIN_SCALE_DN = 1e-3
# Samples used for the Tukey-lambda probability plot (a deterministic subsample).
PPCC_SAMPLES = 200_000


class CalibrationError(DataError, ValueError):
    """The frames cannot be calibrated (too few ISOs, no flats, inconsistent frames)."""


class FrameKind(str, Enum):
    """What a calibration frame shows."""

    DARK = "dark"  # lens capped / bias frame
    FLAT = "flat"  # even illumination


@dataclass(frozen=True, eq=False)
class CalibrationFrame:
    """One raw frame for calibration.

    Attributes:
        mosaic: ``(H, W)`` DN as stored (H, W even), Bayer layout ``cfa``.
        iso: ISO speed.
        kind: dark or flat.
        cfa: Bayer layout.
        black_level: per plane (R, Gr, B, Gb), DN.
        white_level: DN.
        name: file name or label (for messages).
        exposure_time: seconds, if known.
    """

    mosaic: np.ndarray
    iso: float
    kind: FrameKind
    cfa: CFAPattern
    black_level: tuple[float, float, float, float]
    white_level: float
    name: str = ""
    exposure_time: float | None = None

    def __post_init__(self) -> None:
        m = np.asarray(self.mosaic)
        if m.ndim != 2 or m.shape[0] % 2 or m.shape[1] % 2 or m.size == 0:
            raise ValueError(f"{self.name or 'frame'}: mosaic must be (H, W) with H, W even")
        if not self.cfa.is_bayer:
            raise CalibrationError(f"{self.name or 'frame'}: calibration supports Bayer sensors")
        if not (self.iso and self.iso > 0):
            raise CalibrationError(f"{self.name or 'frame'}: ISO must be positive, got {self.iso}")
        object.__setattr__(self, "mosaic", m)
        object.__setattr__(self, "kind", FrameKind(self.kind))
        object.__setattr__(self, "black_level", tuple(float(b) for b in self.black_level))

    def packed_above_black(self) -> np.ndarray:
        """``(4, H/2, W/2)`` float64 DN above each plane's black level (R, Gr, B, Gb)."""
        offsets = {
            p: (y, x) for y, row in enumerate(self.cfa.plane_map()) for x, p in enumerate(row)
        }
        planes = [self.mosaic[dy::2, dx::2] for dy, dx in (offsets[p] for p in range(4))]
        packed = np.stack(planes).astype(np.float64)
        return packed - np.asarray(self.black_level).reshape(4, 1, 1)

    @property
    def range_dn(self) -> float:
        return self.white_level - float(np.mean(self.black_level))


def classify_frame(
    name: str, mosaic: np.ndarray, black_level: Sequence[float], white_level: float
) -> FrameKind:
    """Dark or flat, by this rule (documented in docs/noise.md):

    1. a file name containing ``dark`` or ``bias`` (case-insensitive) is a dark frame, one
       containing ``flat`` a flat frame;
    2. otherwise a frame whose median is within ``DARK_LEVEL_FRACTION`` (1 %) of the DN range
       above the mean black level is dark, anything brighter flat.
    """
    lower = name.lower()
    if "dark" in lower or "bias" in lower:
        return FrameKind.DARK
    if "flat" in lower:
        return FrameKind.FLAT
    black = float(np.mean(black_level))
    level = float(np.median(np.asarray(mosaic))) - black
    return FrameKind.DARK if level < DARK_LEVEL_FRACTION * (white_level - black) else FrameKind.FLAT


# ------------------------------------------------------------------------ Tukey PPCC
@dataclass(frozen=True)
class TukeyFit:
    """Best Tukey-lambda probability plot: shape, scale, location and its correlation."""

    shape: float
    scale: float
    loc: float
    ppcc: float


def _filliben_positions(n: int) -> np.ndarray:
    """Filliben's estimate of the medians of uniform order statistics (n >= 2)."""
    i = np.arange(1, n + 1, dtype=np.float64)
    m = (i - 0.3175) / (n + 0.365)
    m[-1] = 0.5 ** (1.0 / n)
    m[0] = 1.0 - m[-1]
    return m


def fit_tukey_lambda(
    samples: np.ndarray,
    *,
    bounds: tuple[float, float] = (-0.45, 1.0),
    max_samples: int = PPCC_SAMPLES,
    seed: int = 0,
) -> TukeyFit:
    """Tukey-lambda fit by probability-plot correlation maximisation (ELD's method).

    The sorted samples are correlated with Tukey-lambda quantiles at Filliben's plotting
    positions; lambda maximises that correlation (a grid, then a bounded Brent refinement),
    and the least-squares line of the plot gives the scale (sigma_TL) and location.

    Args:
        samples: any shape, DN (zero-mean noise).
        bounds: search interval of lambda.
        max_samples: a deterministic random subsample of at most this many is used.
        seed: seed of that subsample.
    """
    from scipy.optimize import minimize_scalar

    x = np.asarray(samples, dtype=np.float64).ravel()
    x = x[np.isfinite(x)]
    if x.size < 16:
        raise CalibrationError(f"Tukey-lambda fit needs at least 16 samples, got {x.size}")
    if x.size > max_samples:
        x = np.random.default_rng(seed).choice(x, size=max_samples, replace=False)
    x = np.sort(x)
    if x[-1] == x[0]:
        raise CalibrationError("Tukey-lambda fit: all samples are equal (no read noise?)")
    xc = x - x.mean()
    x_norm = float(np.sqrt(np.sum(xc**2)))
    p = _filliben_positions(x.size)
    log_p, log_q = np.log(p), np.log1p(-p)

    def quantiles(lam: float) -> np.ndarray:
        if lam == 0:
            return log_p - log_q
        return (np.expm1(lam * log_p) - np.expm1(lam * log_q)) / lam

    def dot(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.einsum("i,i->", a, b))  # no BLAS threads: np.dot stalls under load

    def ppcc(lam: float) -> float:
        q = quantiles(lam)
        qc = q - q.mean()
        return dot(qc, xc) / (math.sqrt(dot(qc, qc)) * x_norm)

    step = 0.05
    grid = np.arange(bounds[0], bounds[1] + 1e-9, step)
    values = [ppcc(float(lam)) for lam in grid]
    best = int(np.argmax(values))
    lo = max(float(grid[best]) - step, bounds[0])
    hi = min(float(grid[best]) + step, bounds[1])
    res = minimize_scalar(
        lambda lam: -ppcc(lam), bounds=(lo, hi), method="bounded", options={"xatol": 1e-4}
    )
    lam = float(res.x) if -res.fun >= values[best] else float(grid[best])
    q = quantiles(lam)
    qc = q - q.mean()
    scale = dot(qc, xc) / dot(qc, qc)
    loc = float(x.mean() - scale * q.mean())
    return TukeyFit(shape=lam, scale=scale, loc=loc, ppcc=ppcc(lam))


# ----------------------------------------------------------------------- dark frames
@dataclass(frozen=True)
class DarkStats:
    """Signal-independent noise measured on the dark frames of one ISO (DN)."""

    iso: float
    colour_bias: tuple[float, float, float, float]
    row_sigma: float
    read_sigma: float
    tukey: TukeyFit
    frames: int
    pair_points: tuple[tuple[float, float], ...] = ()  # (0, var(A-B)/2) per dark pair


def estimate_dark_stats(frames: Sequence[CalibrationFrame], *, dither: bool = True) -> DarkStats:
    """Colour bias, sigma_r, sigma_g and the Tukey fit from dark frames of one ISO.

    Row noise: per frame, the mosaic rows' means (after the per-channel bias) vary with
    ``sigma_r^2 + sigma_pix^2 / W``; the pixel part, measured on the row-free residual, is
    subtracted (floored at 0) and the variances averaged over frames.

    Read noise: the residual ``frame - bias - row mean``; sigma_g is its RMS over all frames.
    The Tukey-lambda fit uses a seeded random subsample of ``PPCC_SAMPLES`` residuals drawn
    evenly from the frames; integer DN are dithered by ``U(-1/2, 1/2)`` (``dither``) before
    the probability plot, which removes the ties of rounding.
    """
    if not frames:
        raise CalibrationError("no dark frames")
    isos = {f.iso for f in frames}
    if len(isos) != 1:
        raise ValueError(f"estimate_dark_stats needs frames of one ISO, got {sorted(isos)}")
    rng = np.random.default_rng(0)
    biases, row_vars, samples = [], [], []
    sum_sq, count = 0.0, 0
    per_frame = -(-PPCC_SAMPLES // len(frames))  # probability-plot samples kept per frame
    for f in frames:
        packed = f.packed_above_black()
        bias = packed.mean(axis=(1, 2))
        biases.append(bias)
        centred = packed - bias.reshape(4, 1, 1)
        # the mosaic's two row families: rows holding R and Gr, rows holding B and Gb
        rows = np.stack(
            [np.concatenate(centred[0:2], axis=-1), np.concatenate(centred[2:4], axis=-1)]
        )  # (2, h, 2w)
        row_means = rows.mean(axis=-1, keepdims=True)  # (2, h, 1)
        resid = (rows - row_means).ravel()
        width = rows.shape[-1]
        pix_var = float(resid.var()) * width / max(width - 1, 1)
        row_var = float(row_means.var(ddof=1)) - pix_var / width
        row_vars.append(max(row_var, 0.0))
        sum_sq += float(np.einsum("i,i->", resid, resid))
        count += resid.size
        keep = rng.choice(resid.size, size=min(per_frame, resid.size), replace=False)
        samples.append(resid[keep])
    sample = np.concatenate(samples)
    if dither and all(np.issubdtype(f.mosaic.dtype, np.integer) for f in frames):
        sample = sample + rng.uniform(-0.5, 0.5, size=sample.shape)
    tukey = fit_tukey_lambda(sample)
    pairs = []
    for a, b in zip(frames[0::2], frames[1::2], strict=False):
        diff = a.packed_above_black() - b.packed_above_black()
        for c in range(4):
            pairs.append((0.0, float(diff[c].var(ddof=1)) / 2.0))
    return DarkStats(
        iso=float(next(iter(isos))),
        colour_bias=tuple(float(v) for v in np.mean(biases, axis=0)),
        row_sigma=math.sqrt(float(np.mean(row_vars))),
        read_sigma=math.sqrt(sum_sq / count),
        tukey=tukey,
        frames=len(frames),
        pair_points=tuple(pairs),
    )


# ------------------------------------------------------------------------ joint fit
def fit_log_linear(system_gains: Sequence[float], scales: Sequence[float]) -> LogLinear:
    """``log s = slope log K + bias``; ``sigma`` = residual std (0 with two points)."""
    x = np.log(np.asarray(system_gains, dtype=np.float64))
    y = np.log(np.maximum(np.asarray(scales, dtype=np.float64), MIN_SCALE_DN))
    if x.size < 2 or np.ptp(x) == 0:
        raise CalibrationError("the joint fit needs two ISOs with different gains at least")
    slope, bias = np.polyfit(x, y, 1)
    resid = y - (slope * x + bias)
    sigma = float(np.sqrt(np.sum(resid**2) / (x.size - 2))) if x.size > 2 else 0.0
    return LogLinear(float(slope), float(bias), sigma)
