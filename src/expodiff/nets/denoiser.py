"""The exposure denoiser: what ExposureDiffusion adds around any backbone."""

from __future__ import annotations

from enum import Enum


class Prediction(str, Enum):
    """What the backbone's output means.

    DIRECT: the clean image itself. RESIDUAL: a correction added to the current state.
    FUSED: the adaptive residual layer (paper Eq. 12), a learned mask blending both.
    """

    DIRECT = "direct"
    RESIDUAL = "residual"
    FUSED = "fused"
