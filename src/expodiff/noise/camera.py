"""The parts of a camera noise profile: frozen dataclasses (no files).

:class:`CameraProfile` holds one sensor's ELD-style calibration; :class:`LogLinear` one joint
model ``log sigma ~ N(slope log K + bias, sigma^2)``. Loading and saving live in
:mod:`expodiff.io.profiles` (the JSON file format).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..defaults import ELD_BLACK_LEVEL_DN, ELD_FULL_SCALE_DN, ELD_WHITE_LEVEL_DN
from ..errors import ConfigError

__all__ = [
    "ISO_AT_GAIN_MIN",
    "ISO_AT_GAIN_MAX",
    "ProfileError",
    "LogLinear",
    "NoiseFits",
    "IsoCalibration",
    "CameraProfile",
]

# ELD's calibration convention: Kmin is K at ISO 100, Kmax at ISO 6400, linear in between.
ISO_AT_GAIN_MIN = 100.0
ISO_AT_GAIN_MAX = 6400.0


class ProfileError(ConfigError, ValueError):
    """An unknown camera name or an invalid profile (also a ValueError for library callers)."""


# --------------------------------------------------------------------------- types
@dataclass(frozen=True)
class LogLinear:
    """Joint model of one noise scale across gains: ``log s ~ N(slope log K + bias, sigma^2)``.

    Attributes:
        slope: d log s / d log K.
        bias: log s at K = 1 DN/electron.
        sigma: standard deviation of log s around the line (spread between cameras units).
    """

    slope: float
    bias: float
    sigma: float

    def __post_init__(self) -> None:
        for name in ("slope", "bias", "sigma"):
            value = float(getattr(self, name))
            if not math.isfinite(value):
                raise ProfileError(f"log-linear {name} must be finite, got {value}")
            object.__setattr__(self, name, value)
        if self.sigma < 0:
            raise ProfileError(f"log-linear sigma must be >= 0, got {self.sigma}")

    def median(self, system_gain: float) -> float:
        """``exp(slope log K + bias)``: the scale at gain K without the random spread."""
        return math.exp(self.slope * math.log(system_gain) + self.bias)

    def rescaled(self, factor: float) -> LogLinear:
        """The same model when DN (and so K and the scale) are multiplied by ``factor``."""
        return LogLinear(self.slope, self.bias + (1.0 - self.slope) * math.log(factor), self.sigma)


@dataclass(frozen=True)
class NoiseFits:
    """The three joint models of one calibration fit (ELD's ``Profile-k``)."""

    read_gaussian: LogLinear
    read_tukey: LogLinear
    row: LogLinear


@dataclass(frozen=True)
class IsoCalibration:
    """What ``expodiff calibrate`` measured at one ISO (kept in the profile for reference).

    All scales in DN on the profile's scale; ``tukey_ppcc`` is the probability-plot
    correlation of the best Tukey-lambda fit.
    """

    iso: float
    system_gain: float
    read_sigma: float
    tukey_shape: float
    tukey_scale: float
    row_sigma: float
    colour_bias: tuple[float, float, float, float]
    tukey_ppcc: float | None = None
    dark_frames: int = 0
    flat_pairs: int = 0


@dataclass(frozen=True)
class CameraProfile:
    """One camera's calibrated noise model (see the module docstring).

    Attributes:
        name: camera name (``SonyA7S2``; a user calibration: what ``--name`` gave).
        gain_min, gain_max: K at ISO 100 and ISO 6400, DN per electron on ``full_scale_dn``.
        tukey_shapes: Tukey-lambda shapes of the calibration points (sampled uniformly).
        read_gaussian, read_tukey, row: the active fit's joint models of sigma_g, sigma_TL,
            sigma_r.
        colour_bias: ``(N, 4)`` per-channel black-level error in DN (R, Gr, B, Gb), one row
            per entry of ``tukey_shapes``.
        full_scale_dn: DN span that raw_norm 1 maps to in this calibration (ELD: 15583).
        black_level, white_level: the DN scale of the calibration (ELD profiles: the recipe's
            nominal 16383 - 15583 = 800 and 16383, not each camera's own black level).
        source: provenance, free text.
        fit: name of the active fit (ELD: ``Profile-1``); ``other_fits`` holds the rest.
        black_level_error: ``((iso, dn), ...)``: per-ISO black-level error (PMN's residual
            after dark shading; SonyA7S2 only), sorted by ISO.
        calibration: per-ISO measurements of a user calibration, sorted by ISO.
        make, model: camera maker/model as the raw files name them (user calibrations).
        dark_shading: file name (relative to the profile file) of the dark-shading maps.
        path: the file the profile was read from (not part of equality).
    """

    name: str
    gain_min: float
    gain_max: float
    tukey_shapes: tuple[float, ...]
    read_gaussian: LogLinear
    read_tukey: LogLinear
    row: LogLinear
    colour_bias: tuple[tuple[float, float, float, float], ...]
    full_scale_dn: float = ELD_FULL_SCALE_DN
    black_level: float = ELD_BLACK_LEVEL_DN
    white_level: float = ELD_WHITE_LEVEL_DN
    source: str = ""
    fit: str = "Profile-1"
    other_fits: tuple[tuple[str, NoiseFits], ...] = ()
    black_level_error: tuple[tuple[float, float], ...] = ()
    calibration: tuple[IsoCalibration, ...] = ()
    make: str | None = None
    model: str | None = None
    dark_shading: str | None = None
    path: Path | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        where = f"camera profile {self.name!r}"
        for name in ("gain_min", "gain_max", "full_scale_dn", "black_level", "white_level"):
            value = float(getattr(self, name))
            if not math.isfinite(value):
                raise ProfileError(f"{where}: {name} must be finite, got {value}")
            object.__setattr__(self, name, value)
        if not 0 < self.gain_min <= self.gain_max:
            raise ProfileError(
                f"{where}: need 0 < gain_min <= gain_max, got {self.gain_min}, {self.gain_max}"
            )
        if not self.full_scale_dn > 0:
            raise ProfileError(f"{where}: full_scale_dn must be > 0, got {self.full_scale_dn}")
        if not self.white_level > self.black_level:
            raise ProfileError(f"{where}: white_level must exceed black_level")
        shapes = tuple(float(v) for v in self.tukey_shapes)
        if not shapes or not all(math.isfinite(v) for v in shapes):
            raise ProfileError(f"{where}: tukey_shapes must be a non-empty list of numbers")
        object.__setattr__(self, "tukey_shapes", shapes)
        bias = tuple(tuple(float(v) for v in row) for row in self.colour_bias)
        if len(bias) != len(shapes) or any(len(r) != 4 for r in bias):
            raise ProfileError(
                f"{where}: colour_bias needs one row of 4 values per tukey shape "
                f"({len(shapes)}), got {len(bias)} rows"
            )
        if not all(math.isfinite(v) for r in bias for v in r):
            raise ProfileError(f"{where}: colour_bias values must be finite")
        object.__setattr__(self, "colour_bias", bias)
        ble = tuple(sorted((float(i), float(v)) for i, v in self.black_level_error))
        if any(i <= 0 or not math.isfinite(v) for i, v in ble):
            raise ProfileError(f"{where}: black_level_error needs ISO > 0 and finite values")
        object.__setattr__(self, "black_level_error", ble)
        object.__setattr__(
            self, "calibration", tuple(sorted(self.calibration, key=lambda c: c.iso))
        )

    # ------------------------------------------------------------------ fits
    @property
    def fits(self) -> NoiseFits:
        """The active fit's three joint models."""
        return NoiseFits(self.read_gaussian, self.read_tukey, self.row)

    @property
    def fit_names(self) -> list[str]:
        return [self.fit] + [name for name, _ in self.other_fits]

    def with_fit(self, fit: str) -> CameraProfile:
        """This profile with another of its fits active (error lists the valid ones)."""
        if fit == self.fit:
            return self
        all_fits = dict(self.other_fits)
        if fit not in all_fits:
            raise ProfileError(
                f"camera profile {self.name!r} has no fit {fit!r}; valid: "
                + ", ".join(self.fit_names)
            )
        others = tuple((n, f) for n, f in self.other_fits if n != fit) + ((self.fit, self.fits),)
        chosen = all_fits[fit]
        return replace(
            self,
            fit=fit,
            read_gaussian=chosen.read_gaussian,
            read_tukey=chosen.read_tukey,
            row=chosen.row,
            other_fits=tuple(sorted(others)),
        )

    # ------------------------------------------------------------------- gain
    def system_gain_at_iso(self, iso: float) -> float:
        """K at ``iso``: linear from ``gain_min`` at ISO 100 to ``gain_max`` at ISO 6400.

        Raises:
            ValueError: ISO not positive, or the line gives K <= 0 there (extrapolation
                below ISO 100).
        """
        iso = float(iso)
        if not (math.isfinite(iso) and iso > 0):
            raise ValueError(f"ISO must be a positive number, got {iso}")
        t = (iso - ISO_AT_GAIN_MIN) / (ISO_AT_GAIN_MAX - ISO_AT_GAIN_MIN)
        k = self.gain_min + t * (self.gain_max - self.gain_min)
        if not k > 0:
            raise ValueError(f"{self.name}: K at ISO {iso:g} extrapolates to {k:.4g} <= 0")
        return k

    def iso_at_system_gain(self, system_gain: float) -> float:
        """Inverse of :meth:`system_gain_at_iso` (may leave [100, 6400])."""
        if self.gain_max == self.gain_min:
            return ISO_AT_GAIN_MIN
        t = (float(system_gain) - self.gain_min) / (self.gain_max - self.gain_min)
        return ISO_AT_GAIN_MIN + t * (ISO_AT_GAIN_MAX - ISO_AT_GAIN_MIN)

    def calibration_index(self, system_gain: float) -> int:
        """Which entry of ``tukey_shapes`` / ``colour_bias`` belongs to gain K.

        With per-ISO calibration records (user calibrations): the record whose ISO is nearest
        in log ISO. Otherwise (ELD files, whose entries are ordered by ISO but carry no ISO):
        the entries split ``[gain_min, gain_max]`` into equal bins (LED's convention).
        """
        n = len(self.tukey_shapes)
        if len(self.calibration) == n:
            iso = max(self.iso_at_system_gain(system_gain), 1e-6)
            logs = [abs(math.log(c.iso) - math.log(iso)) for c in self.calibration]
            return min(range(n), key=logs.__getitem__)
        span = self.gain_max - self.gain_min
        if span <= 0:
            return 0
        return min(max(int((system_gain - self.gain_min) / span * n), 0), n - 1)

    def black_level_error_at(self, iso: float) -> float | None:
        """Per-ISO black-level error (DN) at the nearest tabulated ISO (in log ISO), or None."""
        if not self.black_level_error:
            return None
        iso = float(iso)
        if not iso > 0:
            raise ValueError(f"ISO must be positive, got {iso}")
        return min(self.black_level_error, key=lambda e: abs(math.log(e[0] / iso)))[1]

    def rescaled(self, full_scale_dn: float) -> CameraProfile:
        """The same sensor on another DN scale (K, scales and biases times the ratio).

        Electrons are preserved: ``raw_norm * full_scale_dn / K`` is unchanged.
        """
        full_scale_dn = float(full_scale_dn)
        if not full_scale_dn > 0:
            raise ValueError(f"full_scale_dn must be > 0, got {full_scale_dn}")
        if full_scale_dn == self.full_scale_dn:
            return self
        c = full_scale_dn / self.full_scale_dn

        def fits(f: NoiseFits) -> NoiseFits:
            return NoiseFits(
                f.read_gaussian.rescaled(c), f.read_tukey.rescaled(c), f.row.rescaled(c)
            )

        mine = fits(self.fits)
        return replace(
            self,
            gain_min=self.gain_min * c,
            gain_max=self.gain_max * c,
            read_gaussian=mine.read_gaussian,
            read_tukey=mine.read_tukey,
            row=mine.row,
            other_fits=tuple((n, fits(f)) for n, f in self.other_fits),
            colour_bias=tuple(tuple(v * c for v in row) for row in self.colour_bias),
            black_level_error=tuple((i, v * c) for i, v in self.black_level_error),
            full_scale_dn=full_scale_dn,
            black_level=self.black_level * c,
            white_level=self.white_level * c,
            calibration=tuple(
                replace(
                    p,
                    system_gain=p.system_gain * c,
                    read_sigma=p.read_sigma * c,
                    tukey_scale=p.tukey_scale * c,
                    row_sigma=p.row_sigma * c,
                    colour_bias=tuple(v * c for v in p.colour_bias),
                )
                for p in self.calibration
            ),
        )
