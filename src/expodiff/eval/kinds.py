"""Kinds of evaluation protocols and baseline methods (no heavy imports: config imports this)."""

from __future__ import annotations

from enum import Enum


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
