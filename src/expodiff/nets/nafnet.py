"""NAFNet (Chen et al., "Simple Baselines for Image Restoration", ECCV 2022).

A U-shaped stack of NAF blocks: LayerNorm over channels, 1x1 expansion, 3x3 depthwise
convolution, SimpleGate (split channels in two halves and multiply), simplified channel
attention (global average pool + 1x1 convolution, multiplied back), 1x1 projection and a
learnable residual scale ``beta``; then a feed-forward half (LayerNorm, 1x1, SimpleGate, 1x1)
with residual scale ``gamma``. Downsampling is a 2x2 stride-2 convolution doubling the width,
upsampling a 1x1 convolution (no bias) doubling the channels followed by a pixel shuffle, and
skips are added. With no encoder levels the network is ``intro -> middle blocks -> ending``.

Channel attention pools over the *whole* input, so a tile of a large image sees slightly
different statistics than the full frame (see :mod:`expodiff.nets.tiling`). Passing
``pool_size`` replaces the global pool by a local average over a ``pool_size`` window
(the "test-time local converter" of Chu et al., 2022), which makes the network local; the
window is counted in cells of the network's coarsest grid (see :func:`_local_mean`), so it
costs little more than the global pool and tiles aligned to the stride agree with the frame.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["NAFNet", "NAFBlock", "LayerNorm2d"]


class LayerNorm2d(nn.Module):
    """LayerNorm over the channel dimension of ``(B, C, H, W)``, per pixel."""

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        mu = x.mean(1, keepdim=True)
        var = (x - mu).pow(2).mean(1, keepdim=True)
        y = (x - mu) * torch.rsqrt(var + self.eps)
        return y * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


def _box_mean(x: Tensor, size: int) -> Tensor:
    """Exact average over a ``size`` x ``size`` window (shifted inside at the borders), same
    spatial size; the global mean when the window covers the whole input."""
    h, w = x.shape[-2:]
    kh, kw = min(size, h), min(size, w)
    if kh == h and kw == w:
        return x.mean((2, 3), keepdim=True)
    if kh == 1 and kw == 1:  # the identity; the running sums below would add rounding
        return x
    dtype = x.dtype
    work = x if dtype == torch.float64 else x.float()  # float64: the receptive-field probe
    s = F.pad(work.contiguous().cumsum(-1).cumsum(-2), (1, 0, 1, 0))
    out = s[..., kh:, kw:] - s[..., :-kh, kw:] - s[..., kh:, :-kw] + s[..., :-kh, :-kw]
    out = out / (kh * kw)
    oh, ow = out.shape[-2:]
    pad = ((w - ow) // 2, (w - ow + 1) // 2, (h - oh) // 2, (h - oh + 1) // 2)
    return F.pad(out, pad, mode="replicate").to(dtype)


def _local_pool(x: Tensor, size: int, block: int = 1) -> tuple[Tensor, int]:
    """Average over a ``size`` x ``size`` window around each pixel: ``(means, block)``, the
    means on the grid of ``block`` x ``block`` cells (nearest upsampling by ``block`` gives
    the per-pixel result; 1: already per pixel or a global ``(B, C, 1, 1)`` mean).

    With ``block`` > 1 (a divisor of ``size`` and of the input's sides) the window is made of
    whole cells: the mean of the ``size / block`` cells around the pixel's cell, the same for
    every pixel of a cell. Cells on the network's coarsest grid keep the result equal under
    shifts by the network's stride (so tiles aligned to it give the whole frame's result) and
    cost a fraction of a per-pixel window: the running sums and what follows them run on a
    grid ``block**2`` times smaller. ``size`` 1 is the identity.
    """
    if size <= 1:
        return x, 1
    h, w = x.shape[-2:]
    if block <= 1 or size % block or h % block or w % block:
        return _box_mean(x, size), 1
    coarse = _box_mean(F.avg_pool2d(x, block), size // block)
    return coarse, (1 if coarse.shape[-2:] == (1, 1) else block)


def _to_pixels(means: Tensor, up: int, like: Tensor) -> Tensor:
    """Cell values ``means`` repeated over their ``up`` x ``up`` pixels, in ``like``'s memory
    layout (channels-last stays channels-last); ``up`` 1: ``means`` itself."""
    if up == 1:
        return means
    if like.is_contiguous(memory_format=torch.channels_last):
        means = means.contiguous(memory_format=torch.channels_last)
    return F.interpolate(means, scale_factor=up, mode="nearest")


def _local_mean(x: Tensor, size: int, block: int = 1) -> Tensor:
    """:func:`_local_pool` at every pixel (same spatial size, or ``(B, C, 1, 1)``)."""
    return _to_pixels(*_local_pool(x, size, block), like=x)


class _ChannelAttention(nn.Module):
    """Simplified channel attention: pool, 1x1 convolution, multiply back."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 1)
        self.pool_size: int | None = None
        self.pool_block = 1

    def forward(self, x: Tensor) -> Tensor:
        if self.pool_size is None:
            return x * self.conv(x.mean((2, 3), keepdim=True))
        pooled, up = _local_pool(x, self.pool_size, self.pool_block)
        # the 1x1 convolution is pointwise: on the coarse grid, then repeated over the pixels
        return x * _to_pixels(self.conv(pooled), up, like=x)


def _simple_gate(x: Tensor) -> Tensor:
    a, b = x.chunk(2, dim=1)
    return a * b


class NAFBlock(nn.Module):
    """One NAF block of width ``c``."""

    def __init__(self, c: int, dw_expand: int = 2, ffn_expand: int = 2) -> None:
        super().__init__()
        dw = c * dw_expand
        ffn = c * ffn_expand
        self.norm1 = LayerNorm2d(c)
        self.conv1 = nn.Conv2d(c, dw, 1)
        self.conv2 = nn.Conv2d(dw, dw, 3, padding=1, groups=dw)
        self.sca = _ChannelAttention(dw // 2)
        self.conv3 = nn.Conv2d(dw // 2, c, 1)
        self.norm2 = LayerNorm2d(c)
        self.conv4 = nn.Conv2d(c, ffn, 1)
        self.conv5 = nn.Conv2d(ffn // 2, c, 1)
        self.beta = nn.Parameter(torch.zeros(1, c, 1, 1))
        self.gamma = nn.Parameter(torch.zeros(1, c, 1, 1))

    def forward(self, inp: Tensor) -> Tensor:
        x = _simple_gate(self.conv2(self.conv1(self.norm1(inp))))
        x = self.conv3(self.sca(x))
        y = inp + x * self.beta
        x = self.conv5(_simple_gate(self.conv4(self.norm2(y))))
        return y + x * self.gamma


class NAFNet(nn.Module):
    """NAFNet: ``(B, in_channels, H, W) -> (B, out_channels, H, W)``.

    Args:
        in_channels, out_channels: image channels in and out.
        width: channels after the intro convolution (doubled at every encoder level).
        enc_blocks: NAF blocks per encoder level (its length is the number of levels).
        middle_blocks: NAF blocks at the bottom.
        dec_blocks: NAF blocks per decoder level (same length as ``enc_blocks``).
        pool_size: None for global channel attention (NAFNet as published), or the side of a
            local averaging window in pixels *of the input resolution* (test-time local
            converter; typically 1.5x the training patch side).
        global_middle: with a ``pool_size``, the middle blocks keep global attention (the
            whole input's context at the coarsest resolution; :meth:`encode` / :meth:`decode`
            let a tiler run the local parts in tiles and the middle on the whole frame).

    Inputs must be multiples of :attr:`stride` (``2 ** len(enc_blocks)``).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        width: int = 16,
        enc_blocks: Sequence[int] = (),
        middle_blocks: int = 1,
        dec_blocks: Sequence[int] = (),
        pool_size: int | None = None,
        global_middle: bool = False,
    ) -> None:
        super().__init__()
        enc_blocks, dec_blocks = tuple(enc_blocks), tuple(dec_blocks)
        if len(enc_blocks) != len(dec_blocks):
            raise ValueError(
                f"enc_blocks {enc_blocks} and dec_blocks {dec_blocks} need the same length"
            )
        if width < 1 or middle_blocks < 0 or min((*enc_blocks, *dec_blocks, 0)) < 0:
            raise ValueError("width must be >= 1 and block counts >= 0")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.width = width
        self.enc_blocks, self.dec_blocks, self.middle_blocks = enc_blocks, dec_blocks, middle_blocks
        self.stride = 2 ** len(enc_blocks)
        self.intro = nn.Conv2d(in_channels, width, 3, padding=1)
        self.encoders = nn.ModuleList()
        self.downs = nn.ModuleList()
        chan = width
        for n in enc_blocks:
            self.encoders.append(nn.Sequential(*[NAFBlock(chan) for _ in range(n)]))
            self.downs.append(nn.Conv2d(chan, 2 * chan, 2, stride=2))
            chan *= 2
        self.middle = nn.Sequential(*[NAFBlock(chan) for _ in range(middle_blocks)])
        self.ups = nn.ModuleList()
        self.decoders = nn.ModuleList()
        for n in dec_blocks:
            self.ups.append(
                nn.Sequential(nn.Conv2d(chan, 2 * chan, 1, bias=False), nn.PixelShuffle(2))
            )
            chan //= 2
            self.decoders.append(nn.Sequential(*[NAFBlock(chan) for _ in range(n)]))
        self.ending = nn.Conv2d(width, out_channels, 3, padding=1)
        self.pool_size = None
        self.global_middle = False
        self.set_pool_size(pool_size, global_middle)

    def set_pool_size(self, pool_size: int | None, global_middle: bool = False) -> None:
        """Global (None) or local channel attention with a window of ``pool_size`` input pixels.

        Deeper levels use the window scaled by their resolution. Windows larger than one
        pixel are made of whole cells of the coarsest grid (``stride`` x ``stride`` input
        pixels) when ``pool_size`` is a multiple of ``stride`` (:func:`_local_mean`); 1 is
        per-pixel attention. ``global_middle``: the middle blocks keep global pooling.
        """
        if pool_size is not None and pool_size < 1:
            raise ValueError(f"pool_size must be >= 1 or None, got {pool_size}")
        self.pool_size = pool_size
        self.global_middle = bool(global_middle) and pool_size is not None
        levels = self._levels()
        depths = [
            *range(len(self.encoders)),
            len(self.encoders),
            *reversed(range(len(self.decoders))),
        ]
        for level, depth in zip(levels, depths, strict=True):
            local = pool_size is not None and not (self.global_middle and level is self.middle)
            for block in level:
                block.sca.pool_size = max(1, pool_size // 2**depth) if local else None
                # windows in whole cells of the coarsest grid (self.stride input pixels)
                block.sca.pool_block = max(1, self.stride // 2**depth)

    @property
    def global_pooling(self) -> bool:
        """Channel attention over the whole input: every output pixel sees every input pixel."""
        return any(block.sca.pool_size is None for level in self._levels() for block in level)

    def _levels(self) -> list[nn.Module]:
        return [*self.encoders, self.middle, *self.decoders]  # in the order they run

    @property
    def staged(self) -> bool:
        """Only the middle blocks pool globally (``global_middle``): :meth:`encode` and
        :meth:`decode` have finite receptive fields, so a tiler can run them in seamless tiles
        and the middle on the whole frame (:class:`~expodiff.nets.staged.StagedTiledDenoiser`)."""
        return self.global_middle  # set only with a pool_size: every other block is local

    def encode(self, x: Tensor) -> list[Tensor]:
        """The features the decoder takes: every encoder level's output (full resolution
        first) and, last, the input of the middle blocks (``stride`` times smaller)."""
        h, w = x.shape[-2:]
        if h % self.stride or w % self.stride:
            raise ValueError(f"input size {h}x{w} is not a multiple of the stride {self.stride}")
        x = self.intro(x)
        features = []
        for encoder, down in zip(self.encoders, self.downs, strict=True):
            x = encoder(x)
            features.append(x)
            x = down(x)
        features.append(x)
        return features

    def decode(self, features: list[Tensor]) -> Tensor:
        """The output from :meth:`encode`'s features whose last one has been passed through
        :attr:`middle` (the list is not changed)."""
        skips, x = list(features[:-1]), features[-1]
        for decoder, up in zip(self.decoders, self.ups, strict=True):
            x = decoder(up(x) + skips.pop())
        return self.ending(x)

    def forward(self, x: Tensor) -> Tensor:
        features = self.encode(x)
        features[-1] = self.middle(features[-1])
        return self.decode(features)
