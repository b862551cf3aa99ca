"""What the evaluator runs: trained denoisers through the sampler, and the baselines.

A method is any callable ``method(pair, generator) -> (1, C, H, W)`` prediction with a
``name``. :class:`ModelMethod` runs a trained denoiser with the ExposureDiffusion sampler
(``steps = 1``: a feed-forward network), tiling large frames; :class:`BaselineMethod` runs
the scaled input, BM3D or A-BM3D (:mod:`expodiff.eval.baselines`) with the read-noise level
:func:`~expodiff.noise.params.read_noise_std` derives from the noise model's parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import torch

from ..defaults import ELD_FULL_SCALE_DN
from ..errors import ConfigError
from ..kinds import Baseline
from .baselines import abm3d_denoise, bm3d_denoise, scaled_input
from .pairs import EvalPair

__all__ = ["Method", "ModelMethod", "BaselineMethod"]


class Method(Protocol):
    """Anything evaluable: ``method(pair, generator) -> (1, C, H, W)`` prediction."""

    name: str

    def __call__(self, pair: EvalPair, generator: torch.Generator) -> torch.Tensor: ...


@dataclass
class ModelMethod:
    """A trained denoiser run by the ExposureDiffusion sampler with ``steps`` evaluations.

    ``steps = 1`` is a feed-forward network (the baseline, or Noise2Noise). Frames with a side
    above ``tile`` packed pixels are processed in overlapping tiles (0: never; None: the
    network's default tile; :func:`~expodiff.inference.trajectories.denoise_frame`, as in
    :func:`expodiff.enhance`).
    """

    name: str
    denoiser: Any
    process: Any
    steps: int = 3
    tile: int | None = None
    overlap: int | None = None
    bf16: bool = False
    oracle_illuminance_correction: bool = False
    input_consistency_sigma: float | None = None

    def __call__(self, pair: EvalPair, generator: torch.Generator) -> torch.Tensor:
        from ..inference.trajectories import denoise_frame
        from .corrections import sampler_correction

        mean, _ = denoise_frame(
            self.denoiser,
            self.process,
            pair.noisy,
            exposure_ratio=pair.ratio,
            system_gain=pair.system_gain,
            steps=self.steps,
            seed=generator,
            tile=self.tile,
            overlap=self.overlap,
            correct=sampler_correction(
                input_consistency_sigma=self.input_consistency_sigma,
                oracle_reference=pair.clean if self.oracle_illuminance_correction else None,
            ),
            bf16=self.bf16,
        )
        return mean


@dataclass
class BaselineMethod:
    """One of :class:`~expodiff.kinds.Baseline` (no network)."""

    kind: Baseline
    full_scale_dn: float = ELD_FULL_SCALE_DN
    name: str = ""
    bm3d_profile: Any = "np"  # bm3d package profile: a name or a bm3d.BM3DProfile object

    def __post_init__(self) -> None:
        self.kind = Baseline(self.kind)
        self.name = (
            self.name
            or {
                Baseline.SCALED: "scaled input",
                Baseline.BM3D: "BM3D",
                Baseline.ABM3D: "A-BM3D",
            }[self.kind]
        )

    def __call__(self, pair: EvalPair, generator: torch.Generator) -> torch.Tensor:  # noqa: ARG002
        x = pair.noisy[0].detach().float().cpu()
        if self.kind is Baseline.SCALED:
            return scaled_input(x)[None]
        if pair.read_std is None:
            raise ConfigError(
                f"{pair.name}: {self.name} needs the read-noise level (no noise model)"
            )
        fn = bm3d_denoise if self.kind is Baseline.BM3D else abm3d_denoise
        out = fn(
            x,
            exposure_ratio=pair.ratio,
            system_gain=pair.system_gain,
            read_std=pair.read_std,
            full_scale_dn=self.full_scale_dn,
            profile=self.bm3d_profile,
        )
        return out[None]
