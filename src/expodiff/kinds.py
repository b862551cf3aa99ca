"""Every closed set that configs and the command line name, and the one parser for them.

This module imports nothing heavy (no torch), so :mod:`expodiff.config` and the CLI parsers
load quickly. Each set is an ``Enum`` whose values are the names a YAML file or a command
line uses; :func:`parse_enum` turns such a name into a member for all of them
(case-insensitive, ``-`` and ``_`` ignored, the member's Python name accepted too), with one
error message that lists the valid names. The CFA layouts (:class:`~expodiff.cfa.CFAPattern`)
live with their geometry in :mod:`expodiff.cfa` and use the same parser.

=================  =====================================================================
set                used by
=================  =====================================================================
NoisePreset        ``noise.preset``: the paper's noise models
NoiseComponent     ``noise.components``: physical noise sources
GainSampling       ``noise.gain_sampling``: where K is drawn from
BiasSource         ``noise.bias_source``: where colour-bias offsets come from
Prediction         ``model.prediction``: what the backbone's output means
Backbone           network families of the presets
Reexposure         ``diffusion.reexposure``: how the next exposure is simulated
LossKind           ``diffusion.loss``
DatasetKind        ``data.kind``
Split              dataset parts
TrainObjective     ``train.objective``
EvalProtocol       ``eval.protocol``, ``expodiff evaluate --protocol``
Baseline           ``expodiff evaluate --baseline``
DemosaicMethod     ``expodiff develop --demosaic``
=================  =====================================================================
"""

from __future__ import annotations

from enum import Enum
from typing import TypeVar

from .errors import NoiseModelError

__all__ = [
    "parse_enum",
    "NoisePreset",
    "NoiseComponent",
    "GainSampling",
    "BiasSource",
    "PRESET_COMPONENTS",
    "Prediction",
    "Backbone",
    "Reexposure",
    "LossKind",
    "DatasetKind",
    "Split",
    "TrainObjective",
    "EvalProtocol",
    "Baseline",
    "DemosaicMethod",
]

E = TypeVar("E", bound=Enum)


def _key(text: object) -> str:
    return str(text).strip().lower().replace("-", "").replace("_", "")


def parse_enum(kind: type[E], value: E | str, *, error: type[Exception] | None = None) -> E:
    """The member of ``kind`` that ``value`` names.

    Args:
        kind: the enum.
        value: a member, its value or its Python name, in any case, with or without ``-``/``_``.
        error: the exception raised for an unknown name (default: the set's own, see
            :data:`_ERRORS`; else ``ValueError``).

    Raises:
        ValueError (or ``error``): one line naming the set, the value and the valid names.
    """
    if isinstance(value, kind):
        return value
    key = _key(value)
    for member in kind:
        if key in (_key(member.value), _key(member.name)):
            return member
    label = _LABELS.get(kind.__name__, kind.__name__)
    valid = ", ".join(str(m.value) for m in kind)
    raise (error or _ERRORS.get(kind.__name__, ValueError))(
        f"unknown {label} {value!r}; valid: {valid}"
    )


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


class Prediction(str, Enum):
    """What the backbone's output means.

    DIRECT: the clean image itself. RESIDUAL: a correction added to the current state.
    FUSED: the adaptive residual layer (paper Eq. 12), a learned mask blending both.
    """

    DIRECT = "direct"
    RESIDUAL = "residual"
    FUSED = "fused"


class InputTransform(str, Enum):
    """How the exposure denoiser presents a state to its backbone.

    NONE: the state and the photon-level map as they are. ANSCOMBE: the state's photon count
    through the Anscombe transform ``2 sqrt(electrons + 3/8)``, whose shot noise has unit
    variance at every gain, ratio and step, beside the state; the residual branch of the
    prediction is then a correction in that domain (see :mod:`expodiff.nets.denoiser`).
    """

    NONE = "none"
    ANSCOMBE = "anscombe"


class Backbone(str, Enum):
    """The image-to-image network family of a preset.

    UNET: the SID U-Net (:class:`expodiff.nets.unet.SIDUNet`). NAFNET: NAFNet
    (:class:`expodiff.nets.nafnet.NAFNet`).
    """

    UNET = "unet"
    NAFNET = "nafnet"


class Reexposure(str, Enum):
    """How the next, longer exposure is simulated from the current prediction.

    RESAMPLE_INPUT: the original input's photons plus a fresh Poisson draw of
        ``(c_next - 1) * prediction`` photons (what the official code does).
    ACCUMULATE: the current state plus a Poisson increment of ``(c_next - c_cur) * prediction``
        photons (paper Eq. 10).
    """

    RESAMPLE_INPUT = "resample"
    ACCUMULATE = "accumulate"


class LossKind(str, Enum):
    """Per-step reconstruction loss: L1 (released models) or the Poisson KL of paper Eq. 11."""

    L1 = "l1"
    POISSON_KL = "poisson_kl"


class DatasetKind(str, Enum):
    """Where training pairs come from.

    SID_PAIRED: real SID Sony short/long pairs. SID_SYNTHETIC: noise synthesised on SID long
    frames. ELD: the ELD dataset layout. CLEAN_RAW: any folder of raw files as clean targets.
    UNPROCESS: clean sRGB images inverted to linear raw, noise synthesised.
    """

    SID_PAIRED = "sid_paired"
    SID_SYNTHETIC = "sid_synthetic"
    ELD = "eld"
    CLEAN_RAW = "clean_raw"
    UNPROCESS = "unprocess"


class Split(str, Enum):
    """Which part of a dataset: training crops, periodic validation, or the test set."""

    TRAIN = "train"
    VAL = "val"
    TEST = "test"


class TrainObjective(str, Enum):
    """What ``expodiff train`` optimises.

    SUPERVISED: Algorithm 1 of the paper against the clean reference (ExposureDiffusion with
        ``diffusion.train_steps`` T >= 2, or the feed-forward baseline with T = 1).
    NOISE2NOISE: the Noise2Noise baseline: a feed-forward network (S = T = 1) trained to map one
        noisy realisation to a second, independent one drawn from the noise model with the same
        clean image, gain and ratio, under an L2 loss (whose minimiser is the clean mean).
        Needs synthetic data (a noise model), not real pairs.
    """

    SUPERVISED = "supervised"
    NOISE2NOISE = "noise2noise"


class EvalProtocol(str, Enum):
    """Named evaluation protocols of ``expodiff evaluate`` (see docs/training.md).

    SID15_CROP: the ELD / ExposureDiffusion tables: the 15 indoor SID Sony scenes x {100, 250,
        300} of ``splits/eld/SID_Sony_15_paired.txt``, centre 512x512 crop of the packed image.
    SID_FULL: all 129 SID Sony val+test pairs at full frame (PMN / LED protocol,
        ``splits/eld/SID_Sony_paired.txt``).
    ELD: the ELD dataset, per camera x {100, 200}.
    SYNTHETIC: any clean set + the configured noise model + ratios + a seed.
    """

    SID15_CROP = "sid15-crop"
    SID_FULL = "sid-full"
    ELD = "eld"
    SYNTHETIC = "synthetic"


class Baseline(str, Enum):
    """Reference methods that need no trained network (evaluated by the same evaluator).

    SCALED: the amplified noisy input itself (no denoising).
    BM3D: BM3D on each packed plane with a Gaussian sigma from the noise model.
    ABM3D: generalised Anscombe transform (Poisson-Gaussian) + BM3D (sigma 1) + the closed-form
        approximation of the exact unbiased inverse (Makitalo & Foi 2013).
    """

    SCALED = "scaled"
    BM3D = "bm3d"
    ABM3D = "abm3d"


class DemosaicMethod(str, Enum):
    """Demosaicing algorithm of :func:`expodiff.io.isp.demosaic`."""

    BILINEAR = "bilinear"  # Bayer and X-Trans
    MALVAR = "malvar"  # Malvar-He-Cutler 2004 gradient-corrected linear, Bayer only


# How error messages name each set, and the error a set raises for an unknown name.
_LABELS = {
    "NoisePreset": "noise preset",
    "NoiseComponent": "noise component",
    "GainSampling": "gain sampling",
    "BiasSource": "bias source",
    "Prediction": "prediction",
    "Backbone": "backbone",
    "Reexposure": "re-exposure",
    "LossKind": "loss",
    "DatasetKind": "dataset kind",
    "Split": "split",
    "TrainObjective": "training objective",
    "EvalProtocol": "protocol",
    "Baseline": "baseline",
    "DemosaicMethod": "demosaic method",
    "CFAPattern": "CFA pattern",
}
_ERRORS: dict[str, type[Exception]] = {
    "NoisePreset": NoiseModelError,
    "NoiseComponent": NoiseModelError,
}
