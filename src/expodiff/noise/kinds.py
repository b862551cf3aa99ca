"""Closed sets of the noise package: presets, components, gain sampling, bias source.

Kept free of torch and files so that :mod:`expodiff.config` and the command-line parsers can
import them cheaply; :mod:`expodiff.noise.model` re-exports everything here.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum

from ..errors import ConfigError

# DN span that raw_norm 1 maps to in ELD's 14-bit recipe: saturation 16383 minus the nominal
# black level 800 (what the official ELD / ExposureDiffusion code hard-codes; docs/noise.md).
ELD_FULL_SCALE_DN = 15583.0

__all__ = [
    "ELD_FULL_SCALE_DN",
    "NoisePreset",
    "GainSampling",
    "NoiseComponent",
    "BiasSource",
    "PRESET_COMPONENTS",
    "NoiseModelError",
    "parse_preset",
    "parse_components",
]


class NoisePreset(str, Enum):
    """Named noise models of the paper's tables.

    PG: Poisson shot + Gaussian read noise (the paper's P+G).
    ELD: Poisson + Tukey-lambda read + row + quantisation noise (ELD, CVPR 2020).
    ELD_BIAS: ELD plus per-channel colour bias / black-level error.
    GAUSSIAN: signal-independent Gaussian only.
    """

    PG = "pg"
    ELD = "eld"
    ELD_BIAS = "eld+bias"
    GAUSSIAN = "gaussian"


class GainSampling(str, Enum):
    """Where the per-image system gain K is drawn from (log-uniform).

    ELD_RANGE: the configured ``gain_range`` (ELD recipe: [0.1, 30]).
    CAMERA_RANGE: the camera profile's calibrated [Kmin, Kmax].
    """

    ELD_RANGE = "eld_range"
    CAMERA_RANGE = "camera_range"


class NoiseComponent(str, Enum):
    """One physical noise source (see :mod:`expodiff.noise.components`).

    At most one shot model (POISSON or SHOT_GAUSSIAN) and one read model (GAUSSIAN or TUKEY).
    """

    POISSON = "poisson"  # exact shot noise on photo-electrons
    SHOT_GAUSSIAN = "shot_gaussian"  # its Gaussian approximation N(0, K * signal)
    GAUSSIAN = "gaussian"  # Gaussian read noise, sigma_g
    TUKEY = "tukey"  # Tukey-lambda read noise, lambda and sigma_TL
    ROW = "row"  # one offset per mosaic row, sigma_r
    QUANTIZATION = "quantization"  # uniform +-0.5 DN
    COLOUR_BIAS = "colour_bias"  # per-channel black-level error

    @classmethod
    def parse(cls, name: str | NoiseComponent) -> NoiseComponent:
        """Parse a user-facing name (case-insensitive); the error lists the valid names."""
        if isinstance(name, cls):
            return name
        key = str(name).strip().lower()
        for member in cls:
            if key in (member.value, member.name.lower()):
                return member
        raise NoiseModelError(
            f"unknown noise component {name!r}; valid: {', '.join(m.value for m in cls)}"
        )


class BiasSource(str, Enum):
    """Where the COLOUR_BIAS component's offsets come from.

    COLOUR_BIAS: the profile's per-channel ``colour_bias`` rows (ELD).
    BLACK_LEVEL_ERROR: the profile's per-ISO black-level error (PMN; one value on all four
        channels, at the ISO whose K is the sample's K). Profiles without that table fall
        back to their colour-bias rows.
    """

    COLOUR_BIAS = "colour_bias"
    BLACK_LEVEL_ERROR = "black_level_error"


_N = NoiseComponent
PRESET_COMPONENTS: dict[NoisePreset, frozenset[NoiseComponent]] = {
    NoisePreset.PG: frozenset({_N.POISSON, _N.GAUSSIAN}),
    NoisePreset.ELD: frozenset({_N.POISSON, _N.TUKEY, _N.ROW, _N.QUANTIZATION}),
    NoisePreset.ELD_BIAS: frozenset(
        {_N.POISSON, _N.TUKEY, _N.ROW, _N.QUANTIZATION, _N.COLOUR_BIAS}
    ),
    NoisePreset.GAUSSIAN: frozenset({_N.GAUSSIAN}),
}


class NoiseModelError(ConfigError, ValueError):
    """An invalid noise-model setting (unknown preset/component, bad range)."""


def parse_preset(preset: NoisePreset | str) -> NoisePreset:
    """A preset from its name (case-insensitive); the error lists the valid names."""
    if isinstance(preset, NoisePreset):
        return preset
    key = str(preset).strip().lower()
    for member in NoisePreset:
        if key in (member.value, member.name.lower()):
            return member
    raise NoiseModelError(
        f"unknown noise preset {preset!r}; valid: {', '.join(m.value for m in NoisePreset)}"
    )


def parse_components(components: Iterable[NoiseComponent | str]) -> frozenset[NoiseComponent]:
    """A valid component set (at most one shot and one read model) from names or members."""
    if isinstance(components, (str, NoiseComponent)):
        components = [components]
    comps = frozenset(NoiseComponent.parse(c) for c in components)
    if {_N.POISSON, _N.SHOT_GAUSSIAN} <= comps:
        raise NoiseModelError("choose one shot-noise model: poisson or shot_gaussian")
    if {_N.GAUSSIAN, _N.TUKEY} <= comps:
        raise NoiseModelError("choose one read-noise model: gaussian or tukey")
    return comps
