"""Networks: the SID U-Net and NAFNet backbones, the exposure denoiser around them, presets,
tiled evaluation and size/cost counters. See docs/method.md.

``build_denoiser`` and ``PRESETS`` live in :mod:`expodiff.nets.registry` (it reads
:mod:`expodiff.config`, which itself imports :mod:`expodiff.nets.denoiser`); they are
re-exported here lazily to keep that import order safe.
"""

from __future__ import annotations

from .denoiser import DenoiserOutput, ExposureDenoiser, Prediction
from .flops import count_macs, count_parameters, macs_per_megapixel
from .nafnet import NAFNet
from .tiling import TiledDenoiser, tiled_forward
from .unet import SIDUNet

__all__ = [
    "DenoiserOutput",
    "ExposureDenoiser",
    "Prediction",
    "SIDUNet",
    "NAFNet",
    "TiledDenoiser",
    "tiled_forward",
    "count_parameters",
    "count_macs",
    "macs_per_megapixel",
    "PRESETS",
    "Preset",
    "build_denoiser",
]

_LAZY = {"PRESETS", "Preset", "build_denoiser", "resolve_preset", "build_backbone"}


def __getattr__(name: str):
    if name in _LAZY:
        from . import registry

        return getattr(registry, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
