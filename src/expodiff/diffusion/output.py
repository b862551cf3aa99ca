"""What one evaluation of a denoiser returns: the interface between the sampler and losses
of this layer and any network above it (:class:`~expodiff.nets.denoiser.ExposureDenoiser`
fills it; an oracle or dummy callable may return a bare tensor instead)."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

__all__ = ["DenoiserOutput"]


@dataclass
class DenoiserOutput:
    """One evaluation of the denoiser.

    Attributes:
        prediction: ``F(X_t)``, the estimate of the clean reference, in ``[0, 1]``.
        mask: ARL mask ``M`` ``(B, 1, H, W)`` (FUSED only).
        direct: the direct branch ``X̂`` *before* clipping (FUSED only; the auxiliary loss
            needs the unclipped values to keep gradients where ``X̂`` leaves ``[0, 1]``).
        residual: the residual branch's image estimate ``clip(X_t + R̂, 0, 1)`` (FUSED only).
    """

    prediction: Tensor
    mask: Tensor | None = None
    direct: Tensor | None = None
    residual: Tensor | None = None
