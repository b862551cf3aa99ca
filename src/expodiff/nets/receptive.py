"""The receptive field of a denoiser, measured: how far an input pixel reaches.

Tiled evaluation equals the untiled one (up to float rounding) when every output pixel is taken
from a tile in which it lies at least the receptive-field radius from the tile's inner edges.
The radius is measured once per network, on the network itself (so every backbone and option
is covered): the gradient of one central output pixel with respect to the input is non-zero
exactly inside its receptive field. A network with global pooling (NAFNet's channel attention
as published) reaches every pixel: its radius is None.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["receptive_radius"]


def receptive_radius(denoiser: nn.Module, side: int = 160) -> int | None:
    """The receptive-field radius of a denoiser's backbone in packed pixels.

    Args:
        denoiser: an ``ExposureDenoiser`` (its ``backbone`` and ``in_channels`` are probed:
            the prediction head is pixel-wise, and its clipping would hide gradients).
        side: the probe's side (packed pixels); radii of ``side // 2 - 1`` or more count as
            global.

    Returns:
        The largest Chebyshev distance from the probed output pixel at which an input pixel
        changes it, or None when the field reaches the probe's border (global pooling, or a
        field wider than the probe).
    """
    backbone = denoiser.backbone
    p = next(backbone.parameters(), None)
    device = p.device if p is not None else torch.device("cpu")
    dtype = p.dtype if p is not None else torch.float32
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1, denoiser.in_channels, side, side, generator=g).to(device, dtype)
    x.requires_grad_(True)
    was_training = backbone.training
    backbone.eval()
    c = side // 2
    try:
        with torch.enable_grad():
            backbone(x)[0, :, c, c].sum().backward()
    finally:
        backbone.train(was_training)
    reach = x.grad.abs().sum((0, 1)) > 0
    ys, xs = torch.nonzero(reach, as_tuple=True)
    if ys.numel() == 0:
        return 0
    radius = int(torch.maximum((ys - c).abs(), (xs - c).abs()).max())
    return None if radius >= c - 1 else radius
