"""The closed sets of the network layer, without torch.

:mod:`expodiff.config` and the command-line parsers import these cheaply;
:mod:`expodiff.nets.denoiser` re-exports :class:`Prediction`.
"""

from __future__ import annotations

from enum import Enum

__all__ = ["Prediction"]


class Prediction(str, Enum):
    """What the backbone's output means.

    DIRECT: the clean image itself. RESIDUAL: a correction added to the current state.
    FUSED: the adaptive residual layer (paper Eq. 12), a learned mask blending both.
    """

    DIRECT = "direct"
    RESIDUAL = "residual"
    FUSED = "fused"
