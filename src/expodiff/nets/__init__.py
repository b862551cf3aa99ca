"""Networks: the SID U-Net and NAFNet backbones, the exposure denoiser around them, presets,
tiled evaluation and size/cost counters. See docs/method.md.

Networks are built from plain arguments here
(:func:`~.registry.denoiser_for_preset`); from a ``ModelConfig`` by
:func:`expodiff.build.build_denoiser`.
"""

from __future__ import annotations

from ..diffusion.output import DenoiserOutput
from ..kinds import Backbone, Prediction
from .denoiser import ExposureDenoiser
from .flops import count_macs, count_parameters, macs_per_megapixel
from .nafnet import NAFNet
from .registry import (
    PRESETS,
    SIZE_FIELDS,
    Preset,
    build_backbone,
    denoiser_for_preset,
    preset_with_sizes,
)
from .tiling import TiledDenoiser, tiled_forward
from .unet import SIDUNet

__all__ = [
    "DenoiserOutput",
    "ExposureDenoiser",
    "Prediction",
    "Backbone",
    "SIDUNet",
    "NAFNet",
    "TiledDenoiser",
    "tiled_forward",
    "count_parameters",
    "count_macs",
    "macs_per_megapixel",
    "PRESETS",
    "Preset",
    "SIZE_FIELDS",
    "preset_with_sizes",
    "denoiser_for_preset",
    "build_backbone",
]
