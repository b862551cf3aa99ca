"""Tiled network evaluation for frames too large to process at once.

:class:`TiledDenoiser` wraps a denoiser and has the same call signature, so the sampler uses it
unchanged: only the *network evaluation* of each step is tiled; the re-exposure step is
pixel-wise and runs on the full frame.

One tiled evaluation matches the untiled one up to float rounding (and the receptive-field
and attention effects below). Multi-step *sampling* with the same generator does not reproduce
the untiled trajectory, though: where a rounding difference changes one Poisson draw of the
re-exposure, ``torch.poisson`` also hands different random numbers to the draws after it (its
sampler consumes a value-dependent number of uniforms per element), and the changed states
feed the next network evaluations. After a few steps tiled and untiled runs are different,
equally valid samples of the sampler, not the same sample up to an occasional electron.

Tiles overlap by ``overlap`` pixels. Within an overlap each tile ignores a ``margin`` next to
its inner edge (where its zero padding makes it differ from a full-frame evaluation) and the
two tiles cross-fade with a raised-cosine ramp over the rest, normalised by the sum of the
weights. At the frame border no ramp is applied (the full-frame network pads there too). For
a purely convolutional backbone whose receptive field radius does not exceed the margin, the
tiled result equals the untiled one everywhere (up to float rounding); the SID U-Net's
receptive field is larger than practical margins, so it agrees to within small differences
near tile seams. NAFNet's channel attention averages over the whole input, so every tile sees
slightly different global statistics and results differ a little everywhere; its
:meth:`~expodiff.nets.nafnet.NAFNet.set_pool_size` (local attention) removes that dependence,
and a staged NAFNet (global middle blocks only) is tiled by :mod:`expodiff.nets.staged`.

Memory is bounded by the tile size: one tile is evaluated at a time and only the blended
prediction (and mask) of the full frame is kept. An ``on_tile(done, total)`` callback hears of
every tile evaluated (progress displays of long single frames).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from ..defaults import TILE, TILE_OVERLAP
from ..diffusion.output import DenoiserOutput

__all__ = ["TiledDenoiser", "TileCallback", "tiled_forward", "tile_spans", "blend_window"]

# on_tile(done, total): called after each tile of one evaluation (done = 1 .. total).
TileCallback = Callable[[int, int], None]


def tile_spans(size: int, tile: int, overlap: int, multiple: int = 1) -> list[tuple[int, int]]:
    """``(start, length)`` of tiles covering ``[0, size)``, neighbours overlapping >= ``overlap``.

    Starts are multiples of ``multiple`` (keeps the network's pooling grid aligned with the full
    frame); the tile side is rounded down to a multiple too, and the last tile extends to the
    end of the axis (so it may be up to ``multiple - 1`` pixels longer than ``tile``).
    """
    tile = max(multiple, tile // multiple * multiple)
    if tile >= size:
        return [(0, size)]
    stride = max(multiple, (tile - overlap) // multiple * multiple)
    last = (size - tile) // multiple * multiple
    starts = list(range(0, last, stride)) + [last]
    return [(s, tile) for s in starts[:-1]] + [(last, size - last)]


def blend_window(length: int, start: int, total: int, overlap: int, margin: int) -> Tensor:
    """1-D weights of a tile spanning ``[start, start + length)`` of an axis of size ``total``.

    Zero for ``margin`` pixels at each inner edge, then a raised-cosine ramp up to 1 over
    ``overlap - 2 * margin`` pixels; no ramp at the frame's own borders.
    """
    w = torch.ones(length, dtype=torch.float64)
    ramp = max(1, overlap - 2 * margin)
    d = torch.arange(length, dtype=torch.float64)
    profile = torch.where(
        d < margin,
        torch.zeros_like(d),
        torch.where(
            d < margin + ramp,
            0.5 - 0.5 * torch.cos(math.pi * (d - margin + 0.5) / ramp),
            torch.ones_like(d),
        ),
    )
    if start > 0:
        w = torch.minimum(w, profile)
    if start + length < total:
        w = torch.minimum(w, profile.flip(0))
    return w.float()


def tiled_forward(
    denoiser: Callable,
    state: Tensor,
    photon_level: Tensor | None = None,
    noisy: Tensor | None = None,
    *,
    tile: int = TILE,
    overlap: int = TILE_OVERLAP,
    margin: int | None = None,
    multiple: int | None = None,
    on_tile: TileCallback | None = None,
) -> DenoiserOutput:
    """Evaluate ``denoiser(state, photon_level, noisy)`` tile by tile and blend the outputs.

    Args:
        denoiser: any callable with the denoiser's signature.
        state, photon_level, noisy: as for the denoiser, ``(B, C, H, W)`` (None allowed for
            the optional ones).
        tile: tile side in packed pixels.
        overlap: overlap between neighbouring tiles (``< tile``).
        margin: pixels ignored at each inner tile edge (default ``overlap // 4``).
        multiple: tile offsets are multiples of this (default: the denoiser's ``stride``).
        on_tile: called as ``on_tile(done, total)`` after each tile (once, ``(1, 1)``, when
            the frame fits one tile).

    Returns:
        The blended prediction and mask (the ARL branches are not kept).

    Shape:
        ``(B, C, H, W)`` -> prediction ``(B, C, H, W)`` float32.
    """
    margin = _checked_margin(tile, overlap, margin)
    multiple = int(multiple or getattr(denoiser, "stride", 1) or 1)
    _, _, h, w = state.shape
    ys = tile_spans(h, tile, overlap, multiple)
    xs = tile_spans(w, tile, overlap, multiple)
    if len(ys) == 1 and len(xs) == 1:
        out = denoiser(state, photon_level, noisy)
        if on_tile is not None:
            on_tile(1, 1)
        return out if isinstance(out, DenoiserOutput) else DenoiserOutput(out)
    if max(multiple, tile // multiple * multiple) - overlap < multiple:
        # The tile offsets could not advance by the network's stride and keep the overlap:
        # neighbours would only touch, and their zero-weight margins leave pixels uncovered.
        raise ValueError(
            f"tile {tile} is too small for overlap {overlap} and the network's stride "
            f"{multiple}: need tile >= overlap + stride"
        )
    inputs = (state, photon_level, noisy)
    return _blend_tiles(denoiser, inputs, ys, xs, overlap=overlap, margin=margin, on_tile=on_tile)


def _checked_margin(tile: int, overlap: int, margin: int | None) -> int:
    """The margin (default ``overlap // 4``) after checking ``overlap`` and ``margin``."""
    if overlap < 0 or overlap >= tile:
        raise ValueError(f"need 0 <= overlap < tile, got overlap={overlap}, tile={tile}")
    if margin is None:
        return overlap // 4
    if margin < 0 or (margin and 2 * margin >= overlap):
        raise ValueError(f"need 0 <= 2 * margin < overlap, got margin={margin}, overlap={overlap}")
    return margin


class _BlendSums:
    """Running weighted sums of the tiles' predictions and masks, and of their weights.

    Args:
        batch, height, width: the frame's ``B``, ``H`` and ``W``.
        device: where the sums live (float32).
    """

    def __init__(self, batch: int, height: int, width: int, device: torch.device) -> None:
        self.size = (batch, height, width)
        self.device = device
        self.prediction: Tensor | None = None
        self.mask: Tensor | None = None
        self.weight = torch.zeros(1, 1, height, width, dtype=torch.float32, device=device)

    def _zeros(self, channels: int) -> Tensor:
        b, h, w = self.size
        return torch.zeros(b, channels, h, w, dtype=torch.float32, device=self.device)

    def add(self, out: Tensor | DenoiserOutput, window: tuple, weight: Tensor) -> None:
        """Add one tile's output (a tensor or a :class:`DenoiserOutput`) at ``window``.

        Shape:
            ``out``'s prediction and mask ``(B, C, th, tw)``; ``weight`` ``(1, 1, th, tw)``.
        """
        pred = out if isinstance(out, Tensor) else out.prediction
        mask = None if isinstance(out, Tensor) else out.mask
        if self.prediction is None:
            self.prediction = self._zeros(pred.shape[1])
            if mask is not None:
                self.mask = self._zeros(mask.shape[1])
        self.prediction[window] += pred.float() * weight
        if self.mask is not None and mask is not None:
            self.mask[window] += mask.float() * weight
        self.weight[window] += weight

    def result(self) -> DenoiserOutput:
        """The blend: the weighted sums divided by the summed weights (in place)."""
        assert self.prediction is not None
        self.prediction /= self.weight
        if self.mask is not None:
            self.mask /= self.weight
        return DenoiserOutput(self.prediction, mask=self.mask)


def _blend_tiles(
    denoiser: Callable,
    inputs: tuple[Tensor, Tensor | None, Tensor | None],
    ys: list[tuple[int, int]],
    xs: list[tuple[int, int]],
    *,
    overlap: int,
    margin: int,
    on_tile: TileCallback | None,
) -> DenoiserOutput:
    """The denoiser on every tile ``ys x xs`` (row by row), blended with :func:`blend_window`.

    Args:
        denoiser: any callable with the denoiser's signature.
        inputs: ``(state, photon_level, noisy)``, ``(B, C, H, W)`` (None for absent ones).
        ys, xs: the tiles' ``(start, length)`` along H and W (:func:`tile_spans`).
        overlap, margin, on_tile: as for :func:`tiled_forward`.
    """
    state = inputs[0]
    b, _, h, w = state.shape
    sums = _BlendSums(b, h, w, state.device)
    done, total = 0, len(ys) * len(xs)
    for y0, th in ys:
        wy = blend_window(th, y0, h, overlap, margin).to(state.device)
        for x0, tw in xs:
            wx = blend_window(tw, x0, w, overlap, margin).to(state.device)
            weight = (wy[:, None] * wx[None, :]).view(1, 1, th, tw)
            window = (..., slice(y0, y0 + th), slice(x0, x0 + tw))
            sums.add(denoiser(*(None if t is None else t[window] for t in inputs)), window, weight)
            done += 1
            if on_tile is not None:
                on_tile(done, total)
    return sums.result()


class TiledDenoiser:
    """A denoiser evaluated in overlapping tiles; same call signature as the denoiser.

    Args:
        denoiser: the wrapped denoiser (its ``stride`` aligns the tiles).
        tile, overlap, margin, multiple, on_tile: see :func:`tiled_forward`.
    """

    def __init__(
        self,
        denoiser: Callable,
        tile: int = TILE,
        overlap: int = TILE_OVERLAP,
        margin: int | None = None,
        multiple: int | None = None,
        on_tile: TileCallback | None = None,
    ) -> None:
        if overlap < 0 or overlap >= tile:
            raise ValueError(f"need 0 <= overlap < tile, got overlap={overlap}, tile={tile}")
        self.denoiser = denoiser
        self.tile = int(tile)
        self.overlap = int(overlap)
        self.margin = margin
        self.multiple = multiple
        self.on_tile = on_tile
        self.stride = int(getattr(denoiser, "stride", 1) or 1)

    def tiles(self, height: int, width: int) -> int:
        """How many tiles one evaluation of a ``height`` x ``width`` frame runs."""
        multiple = int(self.multiple or self.stride)
        ys = tile_spans(height, self.tile, self.overlap, multiple)
        xs = tile_spans(width, self.tile, self.overlap, multiple)
        return len(ys) * len(xs)

    def __call__(
        self, state: Tensor, photon_level: Tensor | None = None, noisy: Tensor | None = None
    ) -> DenoiserOutput:
        return tiled_forward(
            self.denoiser,
            state,
            photon_level,
            noisy,
            tile=self.tile,
            overlap=self.overlap,
            margin=self.margin,
            multiple=self.multiple,
            on_tile=self.on_tile,
        )

    def __repr__(self) -> str:
        return f"TiledDenoiser(tile={self.tile}, overlap={self.overlap}, {self.denoiser!r})"
