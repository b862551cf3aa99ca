"""The U-Net of "Learning to See in the Dark" (Chen et al., CVPR 2018), as used by ELD and
ExposureDiffusion.

Encoder levels of two 3x3 convolutions (widths 32-64-128-256-512 by default) with LeakyReLU
(slope 0.2) and 2x2 max pooling; decoder levels of a 2x2 stride-2 transposed convolution,
concatenation with the skip, and two 3x3 convolutions; a final 1x1 convolution. No output
activation and no pixel shuffle (the packed raw is restored at its own resolution).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["SIDUNet"]


class _DoubleConv(nn.Module):
    def __init__(self, cin: int, cout: int, slope: float) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.slope = slope

    def forward(self, x: Tensor) -> Tensor:
        x = F.leaky_relu(self.conv1(x), self.slope)
        return F.leaky_relu(self.conv2(x), self.slope)


class SIDUNet(nn.Module):
    """SID U-Net: ``(B, in_channels, H, W) -> (B, out_channels, H, W)``.

    Args:
        in_channels, out_channels: image channels in and out.
        widths: feature widths per level, top to bottom (``len(widths) - 1`` poolings).
        negative_slope: LeakyReLU slope.

    ``H`` and ``W`` must be multiples of :attr:`stride` (``2 ** (len(widths) - 1)``);
    :class:`~expodiff.nets.denoiser.ExposureDenoiser` pads to it.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        widths: Sequence[int] = (32, 64, 128, 256, 512),
        negative_slope: float = 0.2,
    ) -> None:
        super().__init__()
        widths = tuple(int(w) for w in widths)
        if len(widths) < 1 or min(widths) < 1:
            raise ValueError(f"widths must be a non-empty sequence of positive ints: {widths}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.widths = widths
        self.stride = 2 ** (len(widths) - 1)
        self.down = nn.ModuleList()
        prev = in_channels
        for w in widths:
            self.down.append(_DoubleConv(prev, w, negative_slope))
            prev = w
        self.upsample = nn.ModuleList()
        self.up = nn.ModuleList()
        for w in reversed(widths[:-1]):
            self.upsample.append(nn.ConvTranspose2d(prev, w, 2, stride=2))
            self.up.append(_DoubleConv(2 * w, w, negative_slope))
            prev = w
        self.out = nn.Conv2d(prev, out_channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        if h % self.stride or w % self.stride:
            raise ValueError(f"input size {h}x{w} is not a multiple of the stride {self.stride}")
        skips = []
        for i, level in enumerate(self.down):
            if i:
                x = F.max_pool2d(x, 2)
            x = level(x)
            skips.append(x)
        skips.pop()
        for upsample, level in zip(self.upsample, self.up, strict=True):
            x = upsample(x)
            x = level(torch.cat([x, skips.pop()], dim=1))
        return self.out(x)
