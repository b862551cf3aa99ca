"""The typed training/evaluation pair shared by noise synthesis, datasets and the sampler."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

import torch

__all__ = ["NoisyPair"]


@dataclass(frozen=True)
class NoisyPair:
    """A noisy short exposure and its clean reference, both on the packed raw.

    Attributes:
        noisy: ``(B, C, H, W)`` raw_norm of the short exposure *amplified to reference
            brightness* (``noisy_dn_above_black / full_scale_dn * exposure_ratio``).
        clean: ``(B, C, H, W)`` raw_norm of the reference (long) exposure.
        system_gain: ``(B,)`` K in DN per electron on the ``full_scale_dn`` scale.
        exposure_ratio: ``(B,)`` r = reference exposure / short exposure (>= 1).
        params: the noise parameters used (a :class:`expodiff.noise.model.NoiseParams`), or
            None for real pairs.
    """

    noisy: torch.Tensor
    clean: torch.Tensor
    system_gain: torch.Tensor
    exposure_ratio: torch.Tensor
    params: Any = None

    def __post_init__(self) -> None:
        if self.noisy.shape != self.clean.shape or self.noisy.dim() != 4:
            raise ValueError(
                f"noisy {tuple(self.noisy.shape)} and clean {tuple(self.clean.shape)} must be "
                "equal (B, C, H, W) shapes"
            )
        b = self.noisy.shape[0]
        for name in ("system_gain", "exposure_ratio"):
            value = getattr(self, name)
            if value.shape != (b,):
                raise ValueError(f"{name} must have shape ({b},), got {tuple(value.shape)}")

    def to(self, device: torch.device | str) -> NoisyPair:
        """Move every tensor (and tensor-valued params) to ``device``."""
        params = self.params.to(device) if hasattr(self.params, "to") else self.params
        return NoisyPair(
            self.noisy.to(device),
            self.clean.to(device),
            self.system_gain.to(device),
            self.exposure_ratio.to(device),
            params,
        )

    @staticmethod
    def collate(pairs: Sequence[NoisyPair]) -> NoisyPair:
        """Concatenate pairs along the batch dimension.

        Params are concatenated when every pair has params of one type with a ``cat``
        (:class:`~expodiff.noise.model.NoiseParams`), and dropped otherwise.
        """
        if not pairs:
            raise ValueError("cannot collate an empty list of pairs")
        cat = {
            f.name: torch.cat([getattr(p, f.name) for p in pairs])
            for f in fields(NoisyPair)
            if f.name != "params"
        }
        kinds = {type(p.params) for p in pairs}
        params = None
        if len(kinds) == 1 and hasattr(pairs[0].params, "cat"):
            params = pairs[0].params.cat([p.params for p in pairs])
        return NoisyPair(**cat, params=params)
