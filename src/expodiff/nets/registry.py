"""Named model presets and builders from plain arguments (no config objects: those are
turned into networks by :mod:`expodiff.build`).

Presets reproducing the paper's sizes (with photon conditioning and the adaptive residual
layer, i.e. 8 input and 9 output channels on a Bayer raw):

=========  ==========================================================  ==================
name       architecture                                                paper parameters
=========  ==========================================================  ==================
unet       SID U-Net, widths 32-64-128-256-512                          7.76 M
nafnet1    NAFNet width 16, one block, no down/up levels                4.7 K
nafnet2    NAFNet width 16, encoder [2,2,4,4], middle 12, decoder 2x4   6.87 M
=========  ==========================================================  ==================

plus small CPU-friendly ones (``unet-slim``, ``nafnet-s``) for tests and quick experiments.
The paper counts follow the ``thop`` convention (see :mod:`expodiff.nets.flops`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from torch import nn

from ..defaults import ELD_FULL_SCALE_DN
from ..errors import ConfigError
from ..kinds import Backbone, InputTransform, Prediction
from .denoiser import ExposureDenoiser
from .nafnet import NAFNet
from .unet import SIDUNet

__all__ = [
    "Backbone",
    "Preset",
    "PRESETS",
    "SIZE_FIELDS",
    "preset_with_sizes",
    "build_backbone",
    "denoiser_for_preset",
]


@dataclass(frozen=True)
class Preset:
    """An architecture: backbone kind and its size.

    Attributes:
        name: preset name (``expodiff models`` lists them).
        backbone: the network family (U-Net or NAFNet).
        width: U-Net first-level width (doubled per level) / NAFNet intro width.
        depth: U-Net levels (ignored by NAFNet).
        enc_blocks, middle_blocks, dec_blocks: NAFNet blocks (ignored by the U-Net).
        paper_params: the paper's parameter count, if it reports one.
        description: one line for listings.
    """

    name: str
    backbone: Backbone
    width: int
    depth: int = 5
    enc_blocks: tuple[int, ...] = ()
    middle_blocks: int = 1
    dec_blocks: tuple[int, ...] = ()
    paper_params: int | None = None
    description: str = ""

    def summary(self) -> str:
        if self.backbone is Backbone.UNET:
            widths = "-".join(str(self.width * 2**i) for i in range(self.depth))
            return f"SID U-Net {widths}"
        return (
            f"NAFNet width {self.width}, enc {list(self.enc_blocks)}, middle "
            f"{self.middle_blocks}, dec {list(self.dec_blocks)}"
        )


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            "unet",
            Backbone.UNET,
            32,
            depth=5,
            paper_params=7_760_000,
            description="SID U-Net of the paper (Table 1)",
        ),
        Preset(
            "nafnet1",
            Backbone.NAFNET,
            16,
            middle_blocks=1,
            paper_params=4_700,
            description="one-block NAFNet of the paper (Table 5)",
        ),
        Preset(
            "nafnet2",
            Backbone.NAFNET,
            16,
            enc_blocks=(2, 2, 4, 4),
            middle_blocks=12,
            dec_blocks=(2, 2, 2, 2),
            paper_params=6_870_000,
            description="NAFNet of the paper (Table 5)",
        ),
        Preset(
            "unet-slim",
            Backbone.UNET,
            16,
            depth=4,
            description="small U-Net for CPU experiments and tests",
        ),
        Preset(
            "nafnet-s",
            Backbone.NAFNET,
            16,
            enc_blocks=(1, 1),
            middle_blocks=2,
            dec_blocks=(1, 1),
            description="small NAFNet for CPU experiments and tests",
        ),
    )
}

_UNET_ONLY = ("depth",)
_NAFNET_ONLY = ("enc_blocks", "middle_blocks", "dec_blocks")
# The size fields a configuration may override on a preset.
SIZE_FIELDS = ("width", "depth", "enc_blocks", "middle_blocks", "dec_blocks")


def preset_with_sizes(name: str, **sizes: int | tuple[int, ...] | list[int] | None) -> Preset:
    """Preset ``name`` with the sizes given (not None) overriding its own.

    Args:
        name: a key of :data:`PRESETS`.
        sizes: any of :data:`SIZE_FIELDS`; None keeps the preset's value.

    Raises:
        ConfigError: unknown preset, a field that the backbone does not have, or bad sizes.
    """
    if name not in PRESETS:
        raise ConfigError(f"unknown model preset {name!r}; valid presets: {', '.join(PRESETS)}")
    unknown = set(sizes) - set(SIZE_FIELDS)
    if unknown:
        raise ConfigError(f"unknown size field(s) {sorted(unknown)}; valid: {list(SIZE_FIELDS)}")
    base = PRESETS[name]
    foreign = _NAFNET_ONLY if base.backbone is Backbone.UNET else _UNET_ONLY
    for field in foreign:
        if sizes.get(field) is not None:
            raise ConfigError(
                f"model.{field} does not apply to preset {name!r} ({base.backbone.value})"
            )
    changes = {
        field: (tuple(v) if isinstance(v, (list, tuple)) else v)
        for field, v in sizes.items()
        if v is not None
    }
    preset = dataclasses.replace(base, **changes)
    if changes:
        preset = dataclasses.replace(preset, paper_params=None)
    if preset.width < 1 or preset.depth < 1:
        raise ConfigError(f"model.width and model.depth must be >= 1 ({preset.summary()})")
    if preset.backbone is Backbone.NAFNET:
        if len(preset.enc_blocks) != len(preset.dec_blocks):
            raise ConfigError(
                f"model.enc_blocks {list(preset.enc_blocks)} and model.dec_blocks "
                f"{list(preset.dec_blocks)} must have the same length"
            )
        if min((*preset.enc_blocks, *preset.dec_blocks, preset.middle_blocks)) < 0:
            raise ConfigError("model block counts must be >= 0")
    return preset


def build_backbone(
    preset: Preset,
    in_channels: int,
    out_channels: int,
    pool_size: int | None = None,
    global_middle: bool = False,
) -> nn.Module:
    """The plain image-to-image network of ``preset``.

    ``pool_size``: NAFNet's channel-attention window in input pixels (None: global pooling);
    ``global_middle``: with a ``pool_size``, the middle blocks keep global attention.
    """
    if (pool_size is not None or global_middle) and preset.backbone is not Backbone.NAFNET:
        raise ConfigError(f"pool_size applies to NAFNet presets, not {preset.name!r}")
    if preset.backbone is Backbone.UNET:
        widths = tuple(preset.width * 2**i for i in range(preset.depth))
        return SIDUNet(in_channels, out_channels, widths)
    if preset.backbone is Backbone.NAFNET:
        return NAFNet(
            in_channels,
            out_channels,
            width=preset.width,
            enc_blocks=preset.enc_blocks,
            middle_blocks=preset.middle_blocks,
            dec_blocks=preset.dec_blocks,
            pool_size=pool_size,
            global_middle=global_middle,
        )
    raise ConfigError(f"unknown backbone {preset.backbone!r}")  # a new Backbone member


def denoiser_for_preset(
    preset: Preset,
    channels: int = 4,
    *,
    condition_on_photons: bool = True,
    condition_on_input: bool = False,
    prediction: Prediction = Prediction.FUSED,
    pool_size: int | None = None,
    global_middle: bool = False,
    input_transform: InputTransform = InputTransform.NONE,
    full_scale_dn: float = ELD_FULL_SCALE_DN,
) -> ExposureDenoiser:
    """An :class:`ExposureDenoiser` around ``preset``'s backbone (weights freshly initialised).

    Args:
        preset: the architecture (:func:`preset_with_sizes`).
        channels: packed raw planes (4 for Bayer, 9 for X-Trans).
        condition_on_photons, condition_on_input, prediction, input_transform, full_scale_dn:
            the wrapper's options (:class:`ExposureDenoiser`).
        pool_size, global_middle: NAFNet's channel-attention windows (:func:`build_backbone`).
    """
    cin = ExposureDenoiser.in_channels_for(channels, condition_on_photons, condition_on_input)
    cout = ExposureDenoiser.out_channels_for(channels, prediction)
    return ExposureDenoiser(
        build_backbone(preset, cin, cout, pool_size, global_middle),
        channels,
        condition_on_photons=condition_on_photons,
        condition_on_input=condition_on_input,
        prediction=prediction,
        input_transform=input_transform,
        full_scale_dn=full_scale_dn,
    )
