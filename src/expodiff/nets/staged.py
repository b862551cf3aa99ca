"""Seamless tiles for a staged network: local encoder and decoder, global middle.

A NAFNet with ``global_middle`` pools globally only in its middle blocks, at the coarsest
resolution (``stride**2`` times fewer pixels than the frame). :class:`StagedTiledDenoiser`
runs its encoder tile by tile with margins of the encoder's receptive radius, assembles the
cores of the tiles' features into the whole frame's features, runs the middle blocks on the
whole frame, and runs the decoder tile by tile with margins of its radius. Every output pixel
then equals the untiled evaluation's up to float rounding, whatever the tile size, with the
global context of the whole frame; memory holds the frame's features (about
``width x (1 + 1/2 + 1/4 ...)`` channels at full resolution) besides one tile's.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ..diffusion.output import DenoiserOutput
from .receptive import StageRadii
from .tiling import TileCallback

__all__ = ["StagedTiledDenoiser", "core_spans"]


def core_spans(
    size: int, tile: int, margin: int, multiple: int = 1, border_reach: int = 0
) -> list[tuple[int, ...]]:
    """Tiles of at most ``tile`` pixels whose cores partition ``[0, size)``.

    Every core lies at least ``margin`` pixels from its tile's edges inside the frame (a network
    whose receptive radius is at most ``margin`` gives the untiled result there); cores have
    about equal lengths, and every bound is a multiple of ``multiple`` (``size`` itself must be
    one). ``border_reach``: how far a pixel at the frame's border reaches in (windows shifted
    inside there reach further than ``margin``): the tiles at the borders hold that much.

    Returns:
        ``(start, length, core_start, core_length)`` per tile, in order.

    Raises:
        ValueError: a ``size`` not a multiple of ``multiple``, or a tile too small for two
            margins and one ``multiple`` or for the border reach.
    """
    if size % multiple:
        raise ValueError(f"size {size} is not a multiple of {multiple}")
    if size <= tile:
        return [(0, size, 0, size)]
    margin = -(-margin // multiple) * multiple
    core = (tile - 2 * margin) // multiple * multiple
    if core < multiple:
        raise ValueError(
            f"tile {tile} is too small for margins of {margin} pixels: need tile >= "
            f"{2 * margin + multiple}"
        )
    if core + margin <= border_reach:
        raise ValueError(f"tile {tile} is too small for a border reach of {border_reach} pixels")
    count = -(-size // core)
    core = -(-size // (count * multiple)) * multiple  # equal cores, the last one shorter
    spans = []
    for k0 in range(0, size, core):
        k1 = min(size, k0 + core)
        s0, s1 = max(0, k0 - margin), min(size, k1 + margin)
        spans.append((s0, s1 - s0, k0, k1 - k0))
    if spans[-1][1] <= border_reach:  # a short last core: its tile starts earlier
        s0 = max(0, size - border_reach - 1) // multiple * multiple
        spans[-1] = (s0, size - s0, *spans[-1][2:])
    return spans


class StagedTiledDenoiser:
    """A staged denoiser (NAFNet with ``global_middle``) evaluated in seamless tiles (the
    module docstring); same call signature as the denoiser.

    Args:
        denoiser: an :class:`~expodiff.nets.denoiser.ExposureDenoiser` whose backbone is
            ``staged`` (``encode``, ``middle``, ``decode``, ``stride``).
        tile: tile side in packed pixels.
        radii: the encoder's and decoder's receptive radii
            (:func:`~expodiff.nets.receptive.stage_radii`).
        on_tile: called as ``on_tile(done, total)`` after each tile of either pass.
    """

    def __init__(
        self,
        denoiser: Callable,
        tile: int,
        radii: StageRadii,
        on_tile: TileCallback | None = None,
    ) -> None:
        self.denoiser = denoiser
        self.backbone = denoiser.backbone
        self.tile = int(tile)
        self.radii = radii
        self.on_tile = on_tile
        self.stride = int(getattr(denoiser, "stride", 1) or 1)
        self._stages = (
            (radii.encoder, radii.encoder_border),
            (radii.decoder, radii.decoder_border),
        )
        for reach in self._stages:  # fail now, not at the first frame
            core_spans(2 * self.tile * self.stride, self.tile, *reach[:1], self.stride, reach[1])

    @staticmethod
    def fits(denoiser: Callable, tile: int, radii: StageRadii) -> bool:
        """Whether tiles of side ``tile`` leave cores within the radii's margins."""
        try:
            StagedTiledDenoiser(denoiser, tile, radii)
        except ValueError:
            return False
        return True

    def _spans(self, height: int, width: int, stage: int) -> list[tuple[tuple[int, ...], ...]]:
        margin, border = self._stages[stage]
        pad = self.stride
        h, w = -(-height // pad) * pad, -(-width // pad) * pad
        ys = core_spans(h, self.tile, margin, self.stride, border)
        xs = core_spans(w, self.tile, margin, self.stride, border)
        return [(y, x) for y in ys for x in xs]

    def tiles(self, height: int, width: int) -> int:
        """How many tiles one evaluation of a ``height`` x ``width`` frame runs (both passes)."""
        return sum(len(self._spans(height, width, stage)) for stage in (0, 1))

    def _backbone(self, x: Tensor) -> Tensor:
        """The backbone on ``x`` (a multiple of the stride): encoder tiles, the middle on the
        whole frame, decoder tiles."""
        h, w = x.shape[-2:]
        done, total = 0, self.tiles(h, w)

        def tick() -> None:
            nonlocal done
            done += 1
            if self.on_tile is not None:
                self.on_tile(done, total)

        features: list[Tensor] = []
        for span in self._spans(h, w, 0):
            parts = self.backbone.encode(x[_window(span, 1)])
            if not features:  # the frame's features, in the parts' layout
                features = [
                    _frame_like(p, h // _factor(p, span), w // _factor(p, span)) for p in parts
                ]
            for frame, part in zip(features, parts, strict=True):
                f = _factor(part, span)
                frame[_core(span, f)] = part[_core_in_tile(span, f)]
            tick()
        features[-1] = self.backbone.middle(features[-1])
        out: Tensor | None = None
        for span in self._spans(h, w, 1):
            y = self.backbone.decode(
                [frame[_window(span, h // frame.shape[-2])] for frame in features]
            )
            if out is None:
                out = _frame_like(y, h, w)
            out[_core(span, 1)] = y[_core_in_tile(span, 1)]
            tick()
        assert out is not None
        return out

    def __call__(
        self, state: Tensor, photon_level: Tensor | None = None, noisy: Tensor | None = None
    ) -> DenoiserOutput:
        return self.denoiser.predict(self._backbone, state, photon_level, noisy)

    def __repr__(self) -> str:
        return f"StagedTiledDenoiser(tile={self.tile}, radii={self.radii}, {self.denoiser!r})"


def _frame_like(part: Tensor, height: int, width: int) -> Tensor:
    """An empty ``(B, C, height, width)`` tensor with ``part``'s dtype, device and layout."""
    b, c = part.shape[:2]
    channels_last = part.dim() == 4 and part.is_contiguous(memory_format=torch.channels_last)
    fmt = torch.channels_last if channels_last and not part.is_contiguous() else None
    fmt = fmt or torch.contiguous_format
    return torch.empty(b, c, height, width, dtype=part.dtype, device=part.device, memory_format=fmt)


# A tile's span on both axes: ((start, length, core_start, core_length) along H, then W).
_Span = tuple[tuple[int, ...], tuple[int, ...]]


def _factor(part: Tensor, span: _Span) -> int:
    """How many input pixels one pixel of ``part`` (a feature of the tile ``span``) spans."""
    return span[0][1] // part.shape[-2]


def _window(span: _Span, f: int) -> tuple:
    """The tile's pixels in a map ``f`` times smaller than the input."""
    (y0, th, _, _), (x0, tw, _, _) = span
    return (..., slice(y0 // f, (y0 + th) // f), slice(x0 // f, (x0 + tw) // f))


def _core(span: _Span, f: int) -> tuple:
    """The tile's core in the frame, in a map ``f`` times smaller than the input."""
    (_, _, ky, kh), (_, _, kx, kw) = span
    return (..., slice(ky // f, (ky + kh) // f), slice(kx // f, (kx + kw) // f))


def _core_in_tile(span: _Span, f: int) -> tuple:
    """The tile's core within the tile, in a map ``f`` times smaller than the input."""
    (y0, _, ky, kh), (x0, _, kx, kw) = span
    return (
        ...,
        slice((ky - y0) // f, (ky - y0 + kh) // f),
        slice((kx - x0) // f, (kx - x0 + kw) // f),
    )
