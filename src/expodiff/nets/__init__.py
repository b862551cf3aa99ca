"""Networks: the SID U-Net and NAFNet backbones, the exposure denoiser around them, presets,
tiled evaluation and size/cost counters. See docs/method.md.

Names are imported on first use, so that :mod:`expodiff.config` can import the enums of
:mod:`.kinds` without torch. Networks are built from plain arguments here
(:func:`~.registry.denoiser_for_preset`); from a ``ModelConfig`` by
:func:`expodiff.build.build_denoiser`.
"""

from __future__ import annotations

from .._lazy import lazy_exports

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
    "SIZE_FIELDS": "registry",
    "preset_with_sizes": "registry",
    "denoiser_for_preset": "registry",
    "build_backbone": "registry",
}


__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
