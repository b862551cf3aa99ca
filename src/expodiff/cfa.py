"""Colour-filter-array layouts and the canonical packed channel order (torch-free).

Canonical packed layout
-----------------------
*Bayer* mosaics pack into 4 channels at half resolution in one canonical colour order,
whatever the camera's layout, so that one model serves every Bayer camera::

    channel 0: R    channel 1: Gr (green on the red rows)
    channel 2: B    channel 3: Gb (green on the blue rows)

This is the ``RGBG`` order of SID, ELD and LibRaw's ``color_desc`` and the order of the ELD
``color_bias`` and SID ``wb`` entries. The four *colour planes* (R, Gr, B, Gb) are also how
per-channel black levels are stored (:class:`expodiff.sensor.SensorSpec`).

*X-Trans* mosaics pack into 9 channels at a third of the resolution, as SID's Fuji model does:
each packed pixel is one 3x3 block of the mosaic, every such block holds 2 R, 5 G and 2 B
photosites, and channels are ``[R, R, G, G, G, G, G, B, B]`` (within a colour, photosites in
raster order inside the block). Packing assumes the mosaic starts on the canonical phase of
:data:`XTRANS_CANONICAL`; :mod:`expodiff.io.rawio` crops files to that phase.

This module imports no torch, so that :mod:`expodiff.config` and the command-line parsers can
use :class:`CFAPattern` cheaply; the packing itself is in :mod:`expodiff.raw`, which
re-exports every name here.
"""

from __future__ import annotations

from enum import Enum

__all__ = [
    "CFAPattern",
    "ColourPlane",
    "XTRANS_CANONICAL",
    "XTRANS_CHANNEL_COLOURS",
    "packed_channels",
    "cfa_period",
    "channel_planes",
]


class ColourPlane(int, Enum):
    """Index of a colour plane; the canonical packed Bayer channel order."""

    R = 0
    GR = 1  # green photosite on a row that holds red
    B = 2
    GB = 3  # green photosite on a row that holds blue


class CFAPattern(str, Enum):
    """Layout of the colour filter array, read in raster order from the top-left photosite."""

    RGGB = "RGGB"
    BGGR = "BGGR"
    GRBG = "GRBG"
    GBRG = "GBRG"
    XTRANS = "XTRANS"

    @property
    def is_bayer(self) -> bool:
        return self is not CFAPattern.XTRANS

    def plane_map(self) -> list[list[int]]:
        """Colour plane (:class:`ColourPlane` index) of each photosite of one CFA period.

        Bayer: 2x2 of plane indices 0..3. X-Trans: 6x6 of 0 (R), 1 (G), 2 (B), canonical phase.
        """
        if self is CFAPattern.XTRANS:
            return [list(row) for row in XTRANS_CANONICAL]
        letters = self.value
        red_row = 0 if "R" in letters[:2] else 1
        out = [[0, 0], [0, 0]]
        for i, ch in enumerate(letters):
            y, x = divmod(i, 2)
            if ch == "R":
                out[y][x] = ColourPlane.R
            elif ch == "B":
                out[y][x] = ColourPlane.B
            else:
                out[y][x] = ColourPlane.GR if y == red_row else ColourPlane.GB
        return out

    @classmethod
    def from_plane_map(cls, plane_map: list[list[int]]) -> CFAPattern:
        """Inverse of :meth:`plane_map` for Bayer layouts (2x2 of plane indices)."""
        for member in cls:
            if member.is_bayer and member.plane_map() == [list(map(int, r)) for r in plane_map]:
                return member
        raise ValueError(f"not a Bayer layout of R, Gr, B, Gb planes: {plane_map}")


# Fujifilm X-Trans 6x6 colour layout in the phase that packing assumes (0=R, 1=G, 2=B).
XTRANS_CANONICAL: tuple[tuple[int, ...], ...] = (
    (1, 1, 0, 1, 1, 2),
    (1, 1, 2, 1, 1, 0),
    (2, 0, 1, 0, 2, 1),
    (1, 1, 2, 1, 1, 0),
    (1, 1, 0, 1, 1, 2),
    (0, 2, 1, 2, 0, 1),
)

# Colour of each of the 9 packed X-Trans channels (0=R, 1=G, 2=B).
XTRANS_CHANNEL_COLOURS: tuple[int, ...] = (0, 0, 1, 1, 1, 1, 1, 2, 2)


def cfa_period(cfa: CFAPattern) -> int:
    """Side of the repeating CFA tile in photosites: 2 (Bayer) or 6 (X-Trans)."""
    return 6 if cfa is CFAPattern.XTRANS else 2


def packed_channels(cfa: CFAPattern) -> int:
    """Number of packed channels: 4 (Bayer) or 9 (X-Trans)."""
    return 9 if cfa is CFAPattern.XTRANS else 4


def channel_planes(cfa: CFAPattern) -> list[int]:
    """Colour plane of each packed channel: Bayer [R, Gr, B, Gb]; X-Trans R,R,G*5,B,B.

    X-Trans greens map to the Gr plane (index 1), blues to B (index 2).
    """
    if cfa is CFAPattern.XTRANS:
        return [ColourPlane.R, ColourPlane.R] + [ColourPlane.GR] * 5 + [ColourPlane.B] * 2
    return [ColourPlane.R, ColourPlane.GR, ColourPlane.B, ColourPlane.GB]
