"""The closed sets of the network layer, without torch.

:mod:`expodiff.config` and the command-line parsers import these cheaply;
:mod:`expodiff.nets.denoiser` re-exports :class:`Prediction`, :mod:`expodiff.nets.registry`
:class:`Backbone`.
"""

from __future__ import annotations

from enum import Enum

__all__ = ["Backbone", "Prediction"]


class Prediction(str, Enum):
    """What the backbone's output means.

    DIRECT: the clean image itself. RESIDUAL: a correction added to the current state.
    FUSED: the adaptive residual layer (paper Eq. 12), a learned mask blending both.
    """

    DIRECT = "direct"
    RESIDUAL = "residual"
    FUSED = "fused"


class Backbone(str, Enum):
    """The image-to-image network family of a preset.

    UNET: the SID U-Net (:class:`expodiff.nets.unet.SIDUNet`). NAFNET: NAFNet
    (:class:`expodiff.nets.nafnet.NAFNet`).
    """

    UNET = "unet"
    NAFNET = "nafnet"
