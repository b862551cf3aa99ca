"""Exact packing of a CFA mosaic into channels, and back.

The layouts and the canonical packed channel order (Bayer: R, Gr, B, Gb at half resolution;
X-Trans: 9 channels at a third) are described in :mod:`expodiff.cfa`, whose names
(:class:`CFAPattern`, :class:`ColourPlane`, :func:`packed_channels`, ...) this module
re-exports.

All functions work on ``torch.Tensor`` with any leading batch dimensions and are exact
inverses of each other (``unpack(pack(m)) == m`` bit for bit).
"""

from __future__ import annotations

import torch

from .cfa import (
    XTRANS_CANONICAL,
    XTRANS_CHANNEL_COLOURS,
    CFAPattern,
    ColourPlane,
    cfa_period,
    channel_planes,
    packed_channels,
)

__all__ = [
    "CFAPattern",
    "ColourPlane",
    "XTRANS_CANONICAL",
    "pack",
    "unpack",
    "pack_bayer",
    "unpack_bayer",
    "pack_xtrans",
    "unpack_xtrans",
    "packed_channels",
    "cfa_period",
    "channel_planes",
    "XTRANS_CHANNEL_COLOURS",
]


def _check_mosaic(mosaic: torch.Tensor, period: int) -> None:
    if not isinstance(mosaic, torch.Tensor):
        raise TypeError(f"expected a torch.Tensor mosaic, got {type(mosaic).__name__}")
    if mosaic.dim() < 2:
        raise ValueError(f"mosaic must have shape (..., H, W), got {tuple(mosaic.shape)}")
    h, w = mosaic.shape[-2:]
    if h % period or w % period or h == 0 or w == 0:
        raise ValueError(
            f"mosaic size {h}x{w} is not a positive multiple of the CFA period {period}; "
            "crop it to the period first"
        )


def _bayer_offsets(cfa: CFAPattern) -> list[tuple[int, int]]:
    """(dy, dx) of each canonical plane R, Gr, B, Gb inside the 2x2 period."""
    pmap = cfa.plane_map()
    offsets = [(0, 0)] * 4
    for y in range(2):
        for x in range(2):
            offsets[pmap[y][x]] = (y, x)
    return offsets


def pack_bayer(mosaic: torch.Tensor, cfa: CFAPattern) -> torch.Tensor:
    """Pack a Bayer mosaic into the canonical 4 channels (R, Gr, B, Gb).

    Args:
        mosaic: ``(..., H, W)`` raw values (any dtype), H and W even.
        cfa: the Bayer layout of ``mosaic``.

    Returns:
        ``(..., 4, H/2, W/2)``, same dtype.
    """
    if not cfa.is_bayer:
        raise ValueError(f"pack_bayer needs a Bayer pattern, got {cfa.value}")
    _check_mosaic(mosaic, 2)
    planes = [mosaic[..., dy::2, dx::2] for dy, dx in _bayer_offsets(cfa)]
    return torch.stack(planes, dim=-3)


def unpack_bayer(packed: torch.Tensor, cfa: CFAPattern) -> torch.Tensor:
    """Inverse of :func:`pack_bayer`: ``(..., 4, h, w)`` -> ``(..., 2h, 2w)`` mosaic."""
    if not cfa.is_bayer:
        raise ValueError(f"unpack_bayer needs a Bayer pattern, got {cfa.value}")
    if packed.dim() < 3 or packed.shape[-3] != 4:
        raise ValueError(f"packed Bayer must have shape (..., 4, h, w), got {tuple(packed.shape)}")
    h, w = packed.shape[-2:]
    out = packed.new_empty((*packed.shape[:-3], 2 * h, 2 * w))
    for c, (dy, dx) in enumerate(_bayer_offsets(cfa)):
        out[..., dy::2, dx::2] = packed[..., c, :, :]
    return out


def _xtrans_gather_index() -> torch.Tensor:
    """(2, 2, 9) raster positions (0..8) inside a 3x3 block, per block parity and channel."""
    index = torch.empty((2, 2, 9), dtype=torch.long)
    for by in range(2):
        for bx in range(2):
            slots: dict[int, list[int]] = {0: [], 1: [], 2: []}
            for y in range(3):
                for x in range(3):
                    colour = XTRANS_CANONICAL[3 * by + y][3 * bx + x]
                    slots[colour].append(3 * y + x)
            index[by, bx] = torch.tensor(slots[0] + slots[1] + slots[2])
    return index


_XTRANS_INDEX = _xtrans_gather_index()


def _xtrans_full_index(hb: int, wb: int, device: torch.device) -> torch.Tensor:
    """(hb, wb, 9) block-local positions for a grid of hb x wb 3x3 blocks."""
    parity_y = torch.arange(hb) % 2
    parity_x = torch.arange(wb) % 2
    idx = _XTRANS_INDEX[parity_y[:, None], parity_x[None, :]]  # (hb, wb, 9)
    return idx.to(device)


def pack_xtrans(mosaic: torch.Tensor) -> torch.Tensor:
    """Pack an X-Trans mosaic (canonical phase) into 9 channels at a third of the size.

    Args:
        mosaic: ``(..., H, W)``, H and W multiples of 6, phase of :data:`XTRANS_CANONICAL`.

    Returns:
        ``(..., 9, H/3, W/3)`` with channels ``[R, R, G, G, G, G, G, B, B]``.
    """
    _check_mosaic(mosaic, 6)
    *lead, h, w = mosaic.shape
    hb, wb = h // 3, w // 3
    blocks = mosaic.reshape(*lead, hb, 3, wb, 3).movedim(-3, -2).reshape(*lead, hb, wb, 9)
    idx = _xtrans_full_index(hb, wb, mosaic.device).expand(*lead, hb, wb, 9)
    packed = torch.gather(blocks, -1, idx)
    return packed.movedim(-1, -3).contiguous()


def unpack_xtrans(packed: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`pack_xtrans`: ``(..., 9, h, w)`` -> ``(..., 3h, 3w)``."""
    if packed.dim() < 3 or packed.shape[-3] != 9:
        raise ValueError(
            f"packed X-Trans must have shape (..., 9, h, w), got {tuple(packed.shape)}"
        )
    *lead, _, hb, wb = packed.shape
    if hb % 2 or wb % 2:
        raise ValueError(f"packed X-Trans size {hb}x{wb} must be even (whole 6x6 periods)")
    values = packed.movedim(-3, -1)  # (..., hb, wb, 9)
    idx = _xtrans_full_index(hb, wb, packed.device).expand(*lead, hb, wb, 9)
    blocks = torch.empty_like(values).scatter_(-1, idx, values)
    return blocks.reshape(*lead, hb, wb, 3, 3).movedim(-2, -3).reshape(*lead, 3 * hb, 3 * wb)


def pack(mosaic: torch.Tensor, cfa: CFAPattern) -> torch.Tensor:
    """Pack any supported mosaic; see :func:`pack_bayer` and :func:`pack_xtrans`."""
    return pack_xtrans(mosaic) if cfa is CFAPattern.XTRANS else pack_bayer(mosaic, cfa)


def unpack(packed: torch.Tensor, cfa: CFAPattern) -> torch.Tensor:
    """Inverse of :func:`pack`."""
    return unpack_xtrans(packed) if cfa is CFAPattern.XTRANS else unpack_bayer(packed, cfa)
