"""Networks: the SID U-Net and NAFNet backbones, the exposure denoiser around them, presets,
tiled evaluation and size/cost counters. See docs/method.md.

Names are imported on first use: :mod:`expodiff.config` imports the enums of :mod:`.kinds`
without torch, and :mod:`.registry` (``build_denoiser``, ``PRESETS``) itself reads the config.
"""

from __future__ import annotations

import importlib

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
    "build_denoiser",
]

# Public name -> the submodule that defines it.
_WHERE = {
    "DenoiserOutput": "denoiser",
    "ExposureDenoiser": "denoiser",
    "Prediction": "kinds",
    "Backbone": "kinds",
    "SIDUNet": "unet",
    "NAFNet": "nafnet",
    "TiledDenoiser": "tiling",
    "tiled_forward": "tiling",
    "count_parameters": "flops",
    "count_macs": "flops",
    "macs_per_megapixel": "flops",
    "PRESETS": "registry",
    "Preset": "registry",
    "build_denoiser": "registry",
    "resolve_preset": "registry",
    "build_backbone": "registry",
}


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
