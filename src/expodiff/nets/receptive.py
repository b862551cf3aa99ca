"""The receptive field of a denoiser, measured: how far an input pixel reaches.

Tiled evaluation equals the untiled one (up to float rounding) when every output pixel is taken
from a tile in which it lies at least the receptive-field radius from the tile's inner edges.
The radius is measured once per network, on the network itself (so every backbone and option
is covered): the gradient of one central output pixel with respect to the input is non-zero
exactly inside its receptive field. A network with global pooling (NAFNet's channel attention
as published) reaches every pixel: its radius is None.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

__all__ = ["receptive_radius"]

# Gradients below this fraction of the largest one are rounding, not reach.
_NEGLIGIBLE = 1e-12


def receptive_radius(denoiser: nn.Module, side: int = 160) -> int | None:
    """The receptive-field radius of a denoiser's backbone in packed pixels.

    Args:
        denoiser: an ``ExposureDenoiser`` (its ``backbone`` and ``in_channels`` are probed:
            the prediction head is pixel-wise, and its clipping would hide gradients).
        side: the probe's side (packed pixels); a field reaching its border counts as
            global.

    Returns:
        The largest Chebyshev distance between an output pixel and an input pixel that changes
        it (probed on one cell of the network's ``stride``: a bound for every position), or
        None when the field reaches the probe's border (global pooling, or a field wider
        than the probe).
    """
    if getattr(denoiser.backbone, "global_pooling", False):
        return None  # reaches every pixel by construction: nothing to probe
    # Probed in float64 on a copy: running sums (local pooling) then leave rounding residues
    # ~1e-16 of real gradients instead of float32's ~1e-7.
    backbone = copy.deepcopy(denoiser.backbone).to(torch.float64).eval()
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1, denoiser.in_channels, side, side, generator=g, dtype=torch.float64)
    x.requires_grad_(True)
    c = side // 2
    # A cell of stride x stride output pixels: a network pooling on its coarse grid reaches
    # further from some positions within a cell than from others.
    n = max(1, int(getattr(backbone, "stride", 1)))
    with torch.enable_grad():
        backbone(x)[0, :, c : c + n, c : c + n].sum().backward()
    grad = x.grad.abs().sum((0, 1))
    # Exactly zero outside the field, but for rounding residues of running sums, many orders
    # below any real influence: those do not count.
    reach = grad > grad.max() * _NEGLIGIBLE
    ys, xs = torch.nonzero(reach, as_tuple=True)
    if ys.numel() == 0:
        return 0
    # the distance to the farthest probed pixel (every probed pixel's field lies within it)
    far_y = torch.maximum((ys - c).abs(), (ys - (c + n - 1)).abs())
    far_x = torch.maximum((xs - c).abs(), (xs - (c + n - 1)).abs())
    radius = int(torch.maximum(far_y, far_x).max())
    touches = (
        min(int(ys.min()), int(xs.min())) == 0 or max(int(ys.max()), int(xs.max())) == side - 1
    )
    return None if touches else radius  # a field reaching the border may reach further
