"""Noise models composed from physical components."""

from __future__ import annotations

from enum import Enum


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
