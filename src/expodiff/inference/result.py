"""What :func:`expodiff.inference.api.enhance` returns: the enhanced raw with where its ratio
and K came from, the timings of each step, and the warnings it gave."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import torch

from ..io.frame import RawFrame
from ..raw import CFAPattern
from .gain import GainSource
from .ratio import RatioSource

__all__ = ["EnhanceWarning", "EnhanceTimings", "EnhanceResult", "enhanced_exposure_time"]


class EnhanceWarning(UserWarning):
    """Something the user should know about an enhancement (pass-through, blind K, range)."""


@dataclass(frozen=True)
class EnhanceTimings:
    """Wall-clock seconds of the steps of :func:`enhance`."""

    read_s: float = 0.0
    model_s: float = 0.0
    analysis_s: float = 0.0
    sampling_s: float = 0.0
    develop_s: float = 0.0
    total_s: float = 0.0


@dataclass(frozen=True, eq=False)
class EnhanceResult:
    """What :func:`enhance` returns.

    Attributes:
        raw_norm: ``(C, h, w)`` float32 CPU, the enhanced packed raw at reference brightness
            (the mean over samples), raw_norm in [0, 1].
        cfa: the layout the channels were packed from.
        ratio: the exposure ratio applied (1 when passed through).
        ratio_source, ratio_detail: where the ratio came from, in words.
        estimated_ratio: the ratio found before any pass-through decision (< 1: over-exposed).
        system_gain: K used, on the model's ``full_scale_dn`` scale (the file's K and the
            conversion are in ``gain_detail``), None when passed through.
        gain_source, gain_detail: where K came from (None / "" when passed through).
        steps: network evaluations per sample (0 when passed through).
        samples: trajectories averaged.
        views: dihedral views averaged in every network evaluation (1: none).
        input_consistency_sigma: the input consistency's Gaussian sigma (packed pixels) every
            prediction got, None when off.
        input_consistency_keeps_offset: the consistency left the prediction's per-channel
            offset alone (a weak signal: ``diffusion.input_consistency_offset_min_electrons``).
        seed: the seed of the first trajectory (reproduces the run).
        uncertainty: ``(C, h, w)`` per-pixel standard deviation over the samples (raw_norm),
            or None for a single sample.
        srgb: ``(H, W, 3)`` float32 sRGB in [0, 1], oriented for display, if requested.
        frame: the input frame (None for a packed array).
        passed_through: the input was over-exposed and returned unchanged.
        model_name: the model that ran.
        warnings: the warnings issued, as text.
        timings: :class:`EnhanceTimings`.
    """

    raw_norm: torch.Tensor
    cfa: CFAPattern
    ratio: float
    ratio_source: RatioSource
    ratio_detail: str
    estimated_ratio: float
    system_gain: float | None
    gain_source: GainSource | None
    gain_detail: str
    steps: int
    samples: int
    views: int
    input_consistency_sigma: float | None
    input_consistency_keeps_offset: bool
    seed: int
    uncertainty: torch.Tensor | None
    srgb: np.ndarray | None
    frame: RawFrame | None
    passed_through: bool
    model_name: str
    warnings: tuple[str, ...]
    timings: EnhanceTimings

    def summary(self) -> str:
        """One line: ratio, K and their sources, steps (and views), samples, time."""
        if self.passed_through:
            return (
                f"passed through (ratio {self.estimated_ratio:.3g} < 1, over-exposed), "
                f"{self.timings.total_s:.1f} s"
            )
        noun = "sample" if self.samples == 1 else "samples"
        views = "" if self.views == 1 else f" x {self.views} views"
        sigma = self.input_consistency_sigma
        consistency = "" if sigma is None else f", input consistency {sigma:g} px"
        if sigma is not None and self.input_consistency_keeps_offset:
            consistency += " (offset kept)"
        return (
            f"ratio {self.ratio:.4g} ({self.ratio_source.value}), "
            f"K {self.system_gain:.3g} DN/e ({self.gain_detail}), {self.steps} "
            f"step{'' if self.steps == 1 else 's'}{views}{consistency}, "
            f"{self.samples} {noun}, {self.timings.total_s:.1f} s"
        )


def enhanced_exposure_time(result: EnhanceResult) -> Fraction | None:
    """The exposure time the enhanced raw stands for: the input's times the ratio."""
    frame = result.frame
    if frame is None or frame.exposure_time is None:
        return None
    exposure = Fraction(frame.exposure_time) * Fraction(result.ratio)
    return exposure.limit_denominator(10**5)  # a short rational for the DNG tag
