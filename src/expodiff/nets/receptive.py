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
from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["receptive_radius", "stage_radii", "StageRadii"]

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
    return _reach([x.grad], [1], c, n)


@dataclass(frozen=True)
class StageRadii:
    """Receptive radii of a staged backbone's encoder and decoder, in packed input pixels.

    ``encoder`` / ``decoder``: away from the frame's borders; ``*_border``: from a cell at a
    corner of the frame (local windows shifted inside at the border reach further in).
    """

    encoder: int
    decoder: int
    encoder_border: int
    decoder_border: int


def stage_radii(denoiser: nn.Module, side: int = 320) -> StageRadii | None:
    """Receptive radii of a staged backbone's encoder and decoder (:class:`StageRadii`).

    A staged backbone (``staged`` true: NAFNet with ``global_middle``) splits into
    ``encode(x) -> features`` (finite field), a global middle, and ``decode(features)`` (finite
    field); a feature at ``1/f`` resolution spans ``f`` input pixels. Its kernels and windows
    are square, so the field reaches as far along the rows as along the columns: the probe is a
    strip of ``4 x stride`` rows and ``side`` columns (float64), probed along the columns from
    one stride-wide band of columns, at its centre and at its left edge (about 20x cheaper than
    a square probe, with the same result; tests/test_staged.py compares them).

    Returns:
        The farthest input column that changes an encoder feature of the band, and the
        farthest feature column (in input pixels) that changes an output of the band, from the
        centre and from the edge; None when the backbone is not staged or a field reaches the
        probe's far end.
    """
    backbone = denoiser.backbone
    if not getattr(backbone, "staged", False):
        return None
    backbone = copy.deepcopy(backbone).to(torch.float64).eval()
    n = max(1, int(backbone.stride))
    side = -(-int(side) // n) * n
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1, denoiser.in_channels, 4 * n, side, generator=g, dtype=torch.float64)
    with torch.no_grad():
        shapes = [f.shape for f in backbone.encode(x)]
    factors = [side // s[-1] for s in shapes]
    found = []
    for c in (side // 2 // n * n, 0):  # a band of the coarsest grid: centre, then edge
        probe = x.detach().clone().requires_grad_(True)
        with torch.enable_grad():
            features = backbone.encode(probe)
            sum(f[0, :, :, c // k : (c + n) // k].sum() for f, k in zip(
                features, factors, strict=True)).backward()  # fmt: skip
            inputs = [torch.rand(s, generator=g, dtype=torch.float64) for s in shapes]
            for t in inputs:
                t.requires_grad_(True)
            backbone.decode(inputs)[0, :, :, c : c + n].sum().backward()
        columns = [probe.grad.abs().sum(2, keepdim=True)]
        found.append(_reach(columns, [1], c, n, rows=False))
        columns = [t.grad.abs().sum(2, keepdim=True) for t in inputs]
        found.append(_reach(columns, factors, c, n, rows=False))
    if any(r is None for r in found):
        return None
    encoder, decoder, encoder_border, decoder_border = found
    return StageRadii(encoder, decoder, encoder_border, decoder_border)


def _reach(
    grads: list[torch.Tensor], factors: list[int], c: int, n: int, rows: bool = True
) -> int | None:
    """The farthest input pixel (Chebyshev distance from the cell ``[c, c + n)^2``) at which
    any of ``grads`` (maps at ``1/factor`` resolution; a pixel spans ``factor`` input pixels)
    is non-negligible; None when a map's reach touches its border. ``rows`` False: along the
    columns only (maps summed over their rows, the band ``[c, c + n)`` of columns)."""
    radius = 0
    fields = [grad.abs().sum((0, 1)) for grad in grads]
    top = max(float(field.max()) for field in fields)
    for field, f in zip(fields, factors, strict=True):
        # Exactly zero outside the field, but for rounding residues of running sums, many
        # orders below any real influence: those do not count.
        ys, xs = torch.nonzero(field > top * _NEGLIGIBLE, as_tuple=True)
        if ys.numel() == 0:
            continue
        axes = [(ys, field.shape[0]), (xs, field.shape[1])] if rows else [(xs, field.shape[1])]
        for pos, side in axes:
            if (c > 0 and int(pos.min()) == 0) or int(pos.max()) == side - 1:
                return None  # a field reaching the border may reach further
            lo, hi = pos * f, pos * f + f - 1  # the input pixels a feature pixel spans
            # the farthest pair of a pixel of the cell and a pixel of the span
            far = torch.maximum((hi - c).abs(), (c + n - 1 - lo).abs())
            radius = max(radius, int(far.max()))
    return radius
