"""Noise calibration of a camera from dark and flat-field frames (pure estimation on arrays).

ELD (Wei et al., CVPR 2020, §4) calibrates its noise model from two kinds of raw frames:

* **dark (bias) frames**, lens capped, shortest exposure, at several ISOs: the
  signal-independent noise. Per ISO we measure the per-channel colour bias (mean above the
  black level), row noise sigma_r (spread of the per-row means, corrected for the pixel noise
  they average), and on the row-free residual the Gaussian sigma_g (its std), the
  Tukey-lambda shape lambda (probability-plot correlation maximisation, PPCC) and scale
  sigma_TL (slope of that probability plot).
* **flat-field pairs**, two frames of the same even scene at the same ISO and exposure, at
  one or more brightness levels: the system gain K by photon transfer. For each pair and
  channel, ``var(A - B) / 2 = K * mean + c`` (the difference cancels fixed patterns and
  uneven illumination); a weighted line through the points of one ISO gives K. Dark pairs
  add points at zero signal.

Across ISOs the joint model fits ``log sigma = slope * log K + bias`` (residual std =
``sigma``) for each scale and a line ``K(ISO)``; the result is a
:class:`~expodiff.noise.camera.CameraProfile` on the camera's own DN scale
(``full_scale_dn = white - black``).

The estimators live in :mod:`expodiff.noise.estimators` and
:mod:`expodiff.noise.photon_transfer` (re-exported here). Frames enter as
:class:`CalibrationFrame` (a mosaic, its ISO, kind and levels), so everything here is
testable on synthetic arrays; ``expodiff calibrate`` reads the files.

================  ==========================================================================
name here         symbol
================  ==========================================================================
``system_gain``   K, DN per electron
``read_sigma``    sigma_g (Gaussian read noise), DN
``tukey_shape``   lambda
``tukey_scale``   sigma_TL, DN
``row_sigma``     sigma_r, DN
``colour_bias``   per-channel mean of a dark frame above the black level, DN
================  ==========================================================================
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .camera import ISO_AT_GAIN_MAX, ISO_AT_GAIN_MIN, CameraProfile, IsoCalibration
from .dark_shading import DarkShading, estimate_dark_shading
from .estimators import (
    DARK_LEVEL_FRACTION,
    CalibrationError,
    CalibrationFrame,
    DarkStats,
    FrameKind,
    TukeyFit,
    classify_frame,
    estimate_dark_stats,
    fit_log_linear,
    fit_tukey_lambda,
)
from .photon_transfer import GainFit, estimate_gain, pair_flats

__all__ = [
    "FrameKind",
    "CalibrationFrame",
    "DarkStats",
    "GainFit",
    "TukeyFit",
    "IsoResult",
    "CalibrationResult",
    "CalibrationError",
    "classify_frame",
    "fit_tukey_lambda",
    "estimate_dark_stats",
    "estimate_gain",
    "pair_flats",
    "fit_log_linear",
    "calibrate_frames",
    "DARK_LEVEL_FRACTION",
]


@dataclass(frozen=True)
class IsoResult:
    """Everything measured at one ISO."""

    iso: float
    dark: DarkStats
    gain: GainFit


@dataclass(frozen=True, eq=False)
class CalibrationResult:
    """Per-ISO measurements, the joint fit as a profile, and (optionally) dark shading."""

    profile: CameraProfile
    per_iso: tuple[IsoResult, ...]
    dark_shading: DarkShading | None = None
    gain_line: tuple[float, float] = (0.0, 0.0)  # K = a * ISO + b
    warnings: tuple[str, ...] = field(default_factory=tuple)


def _gain_line(isos: np.ndarray, gains: np.ndarray) -> tuple[float, float, list[str]]:
    notes = []
    a, b = np.polyfit(isos, gains, 1)
    if a * ISO_AT_GAIN_MIN + b <= 0 or a <= 0:
        a, b = float(np.dot(isos, gains) / np.dot(isos, isos)), 0.0
        notes.append(
            "K(ISO) extrapolates to <= 0 at ISO 100 with an affine line; fitted K proportional "
            "to ISO instead"
        )
    return float(a), float(b), notes


def calibrate_frames(
    frames: Sequence[CalibrationFrame],
    *,
    name: str = "camera",
    make: str | None = None,
    model: str | None = None,
    source: str = "",
    dark_shading: bool = True,
    split_iso: float = 1600.0,
) -> CalibrationResult:
    """Calibrate a camera from dark and flat frames at several ISOs.

    Every ISO needs dark frames (one or more) and flat pairs; at least two ISOs are needed
    for the joint fit. All frames must share CFA, levels and size.

    Raises:
        CalibrationError: no frames, inconsistent frames, an ISO lacking darks or flats, or a
            single ISO.
    """
    by_iso = _group_by_iso(frames)
    per_iso = _measure_isos(by_iso)
    gains = np.array([r.gain.system_gain for r in per_iso])
    if np.ptp(gains) == 0:
        raise CalibrationError("every ISO gives the same K: the joint model needs different gains")
    a, b, notes = _gain_line(np.array([r.iso for r in per_iso]), gains)
    black, white, level_notes = _profile_levels(frames)
    notes.extend(level_notes)
    profile = _joint_profile(
        per_iso,
        gain_line=(a, b),
        black=black,
        white=white,
        name=name,
        make=make,
        model=model,
        source=source,
    )
    shading = None
    if dark_shading:
        shading = _frames_dark_shading(frames, by_iso, split_iso=split_iso, notes=notes)
    return CalibrationResult(
        profile=profile,
        per_iso=tuple(per_iso),
        dark_shading=shading,
        gain_line=(a, b),
        warnings=tuple(notes),
    )


def _group_by_iso(
    frames: Sequence[CalibrationFrame],
) -> dict[float, dict[FrameKind, list[CalibrationFrame]]]:
    """Check the frame set and sort it by ISO, then kind (dark / flat).

    Raises:
        CalibrationError: no frames, mixed CFA layouts, frames of different sizes, an ISO
            lacking darks or flats, or a single ISO.
    """
    if not frames:
        raise CalibrationError("no calibration frames")
    layouts = {f.cfa for f in frames}
    if len(layouts) != 1:
        names = ", ".join(sorted(c.value for c in layouts))
        raise CalibrationError(f"frames differ in CFA layout ({names}); calibrate one sensor")
    sizes: dict[tuple[int, ...], list[str]] = defaultdict(list)
    for f in frames:
        sizes[np.shape(f.mosaic)].append(f.name or "a frame")
    if len(sizes) != 1:
        listing = "; ".join(
            f"{w} x {h}: {names[0]}" + (f" (+{len(names) - 1} more)" if len(names) > 1 else "")
            for (h, w), names in sizes.items()
        )
        raise CalibrationError(
            f"frames differ in size ({listing}); calibrate frames of one sensor size (the "
            "flat pairs and dark shading compare them pixel by pixel)"
        )
    by_iso: dict[float, dict[FrameKind, list[CalibrationFrame]]] = defaultdict(
        lambda: {FrameKind.DARK: [], FrameKind.FLAT: []}
    )
    for f in frames:
        by_iso[f.iso][f.kind].append(f)
    missing = [
        f"ISO {iso:g} has no {kind.value} frames"
        for iso, kinds in sorted(by_iso.items())
        for kind in FrameKind
        if not kinds[kind]
    ]
    if missing:
        raise CalibrationError("; ".join(missing) + " (each ISO needs dark frames and flat pairs)")
    if len(by_iso) < 2:
        iso = next(iter(by_iso))
        raise CalibrationError(
            f"all frames are at ISO {iso:g}: the joint model across ISOs needs frames at two "
            "ISOs at least"
        )
    return by_iso


def _measure_isos(
    by_iso: dict[float, dict[FrameKind, list[CalibrationFrame]]],
) -> list[IsoResult]:
    """Dark statistics and photon-transfer gain at each ISO, in increasing ISO."""
    per_iso = []
    for iso, kinds in sorted(by_iso.items()):
        dark = estimate_dark_stats(kinds[FrameKind.DARK])
        gain = estimate_gain(
            kinds[FrameKind.FLAT], colour_bias=dark.colour_bias, dark_points=dark.pair_points
        )
        per_iso.append(IsoResult(iso=iso, dark=dark, gain=gain))
    return per_iso


def _profile_levels(frames: Sequence[CalibrationFrame]) -> tuple[float, float, list[str]]:
    """Black and white level the profile records, with a note when frames disagree.

    Each frame is measured against its own black level (cameras that read it from masked
    pixels report one per frame); the profile records the median scale.
    """
    black = float(np.median([np.mean(f.black_level) for f in frames]))
    white = float(np.median([f.white_level for f in frames]))
    notes = []
    if len({(f.black_level, f.white_level) for f in frames}) > 1:
        notes.append(
            f"black/white levels differ between frames; the profile records black {black:g}, "
            f"white {white:g}"
        )
    return black, white, notes


def _joint_profile(
    per_iso: Sequence[IsoResult],
    *,
    gain_line: tuple[float, float],
    black: float,
    white: float,
    name: str,
    make: str | None,
    model: str | None,
    source: str,
) -> CameraProfile:
    """The joint model across ISOs: log-linear scales against K, plus the per-ISO record.

    Args:
        per_iso: measurements in increasing ISO.
        gain_line: ``(a, b)`` of ``K = a * ISO + b``.
        black: black level the profile records, DN.
        white: white level the profile records, DN.
    """
    a, b = gain_line
    gains = np.array([r.gain.system_gain for r in per_iso])
    return CameraProfile(
        name=name,
        gain_min=a * ISO_AT_GAIN_MIN + b,
        gain_max=a * ISO_AT_GAIN_MAX + b,
        tukey_shapes=tuple(r.dark.tukey.shape for r in per_iso),
        read_gaussian=fit_log_linear(gains, [r.dark.read_sigma for r in per_iso]),
        read_tukey=fit_log_linear(gains, [r.dark.tukey.scale for r in per_iso]),
        row=fit_log_linear(gains, [r.dark.row_sigma for r in per_iso]),
        colour_bias=tuple(r.dark.colour_bias for r in per_iso),
        full_scale_dn=white - black,
        black_level=black,
        white_level=white,
        source=source,
        fit="calibrated",
        calibration=tuple(_iso_calibration(r) for r in per_iso),
        make=make,
        model=model,
    )


def _iso_calibration(result: IsoResult) -> IsoCalibration:
    """The profile's record of what was measured at one ISO."""
    return IsoCalibration(
        iso=result.iso,
        system_gain=result.gain.system_gain,
        read_sigma=result.dark.read_sigma,
        tukey_shape=result.dark.tukey.shape,
        tukey_scale=result.dark.tukey.scale,
        row_sigma=result.dark.row_sigma,
        colour_bias=result.dark.colour_bias,
        tukey_ppcc=result.dark.tukey.ppcc,
        dark_frames=result.dark.frames,
        flat_pairs=result.gain.pairs,
    )


def _frames_dark_shading(
    frames: Sequence[CalibrationFrame],
    by_iso: dict[float, dict[FrameKind, list[CalibrationFrame]]],
    *,
    split_iso: float,
    notes: list[str],
) -> DarkShading | None:
    """Dark shading from the mean black-subtracted dark frame of each ISO.

    Frames of different sizes give none; a note in ``notes`` (appended in place) says so.
    """
    if len({f.mosaic.shape for f in frames}) != 1:
        notes.append("frames differ in size: no dark shading estimated")
        return None
    means = {
        iso: np.mean(
            [f.mosaic.astype(np.float32) - _mosaic_black(f) for f in kinds[FrameKind.DARK]],
            axis=0,
        )
        for iso, kinds in by_iso.items()
    }
    return estimate_dark_shading(means, split_iso=split_iso)


def _mosaic_black(frame: CalibrationFrame) -> np.ndarray:
    """``(H, W)`` black level of each photosite."""
    h, w = frame.mosaic.shape
    tile = np.array(
        [[frame.black_level[p] for p in row] for row in frame.cfa.plane_map()], dtype=np.float32
    )
    return np.tile(tile, (h // 2, w // 2))
