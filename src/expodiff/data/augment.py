"""Crops, flips and transposes of packed raw tensors that keep the CFA phase.

Why on the packed tensor
------------------------
One packed pixel is one whole CFA period (2x2 Bayer photosites), so *any* crop offset in
packed pixels is an even offset on the mosaic: the crop starts on the same CFA phase and
channel 0 stays R, channel 1 Gr, and so on.

A flip of the *mosaic* would change its phase (a horizontal flip of RGGB reads GRBG).
Instead, as SID (Chen et al. 2018) and ELD (Wei et al. 2020) do, every packed plane is
flipped or transposed on its own: the channels keep their colour meaning (R stays channel 0)
and the result is again a valid canonical packed image. What changes is only the sub-pixel
position of the planes relative to each other (mirrored by half a packed pixel), which no
model of this project depends on. A transpose additionally turns sensor rows into columns:
noise synthesised *after* augmentation (the synthetic sources) still has row noise along
rows; for real pairs the row noise of the short frame becomes column noise in transposed
crops, as in the SID/ELD training code.

Randomness comes from a ``numpy.random.Generator`` passed in (datasets derive one per item
and draw, see :mod:`expodiff.data.base`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

import numpy as np
import torch

__all__ = [
    "CropMode",
    "Flips",
    "SampleTransform",
    "random_crop_origin",
    "centre_crop_origin",
    "draw_flips",
    "apply_flips",
]


class CropMode(str, Enum):
    """How a dataset cuts its items: the whole frame, a random or the centre square."""

    FULL = "full"
    RANDOM = "random"
    CENTRE = "centre"


@dataclass(frozen=True)
class Flips:
    """One draw of the dihedral augmentation of a packed image.

    Attributes:
        vertical: flip every plane upside down (along H).
        horizontal: flip every plane left-right (along W).
        transpose: swap H and W of every plane (applied after the flips).
    """

    vertical: bool = False
    horizontal: bool = False
    transpose: bool = False


def draw_flips(rng: np.random.Generator) -> Flips:
    """Each of the three operations with probability 1/2 (the 8 dihedral symmetries)."""
    v, h, t = (bool(b) for b in rng.integers(0, 2, size=3))
    return Flips(vertical=v, horizontal=h, transpose=t)


def apply_flips(x: torch.Tensor, flips: Flips) -> torch.Tensor:
    """Apply ``flips`` to every plane of ``x`` ``(..., C, H, W)``; returns a contiguous copy."""
    dims = []
    if flips.vertical:
        dims.append(-2)
    if flips.horizontal:
        dims.append(-1)
    if dims:
        x = torch.flip(x, dims)
    if flips.transpose:
        x = x.transpose(-2, -1)
    return x.contiguous()


def random_crop_origin(
    height: int, width: int, size: int, rng: np.random.Generator
) -> tuple[int, int]:
    """Top-left corner ``(y, x)`` of a uniformly random ``size`` x ``size`` crop.

    Every position is equally likely, including the last row and column (``0 .. H - size``).
    Raises ValueError when the image is smaller than the crop.
    """
    if size > height or size > width:
        raise ValueError(f"packed size {height}x{width} is smaller than the crop size {size}")
    y = int(rng.integers(0, height - size + 1))
    x = int(rng.integers(0, width - size + 1))
    return y, x


def centre_crop_origin(height: int, width: int, size: int) -> tuple[int, int]:
    """Top-left corner of the centre crop, ``(H // 2 - size // 2, W // 2 - size // 2)``.

    The same rounding as the ELD evaluation code (``crop_center``), so the ``sid15-crop``
    protocol sees the same pixels as the published tables.
    """
    if size > height or size > width:
        raise ValueError(f"packed size {height}x{width} is smaller than the crop size {size}")
    return height // 2 - size // 2, width // 2 - size // 2


@dataclass(frozen=True)
class SampleTransform:
    """What a dataset does to each item after loading it (same for clean and noisy).

    Attributes:
        crop: :class:`CropMode` (FULL keeps the whole frame).
        size: crop side in packed pixels (RANDOM / CENTRE).
        augment: random flips and transposes (:func:`draw_flips`).
    """

    crop: CropMode = CropMode.FULL
    size: int | None = None
    augment: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "crop", CropMode(self.crop))
        if self.crop is not CropMode.FULL and (self.size is None or self.size <= 0):
            raise ValueError(f"crop mode {self.crop.value} needs a positive size, got {self.size}")

    @property
    def is_random(self) -> bool:
        """Whether applying it needs random numbers."""
        return self.augment or self.crop is CropMode.RANDOM

    def window(
        self, height: int, width: int, rng: np.random.Generator | None
    ) -> tuple[int, int, int, int]:
        """The crop of an ``height`` x ``width`` image: ``(y, x, crop_height, crop_width)``.

        Draws from ``rng`` only for a RANDOM crop. Raises ValueError for an image smaller
        than the crop.
        """
        if self.crop is CropMode.FULL:
            return 0, 0, height, width
        assert self.size is not None
        if self.crop is CropMode.CENTRE:
            y, x = centre_crop_origin(height, width, self.size)
        elif rng is None:
            raise ValueError("a random crop needs a generator")
        else:
            y, x = random_crop_origin(height, width, self.size, rng)
        return y, x, self.size, self.size

    def flips(self, rng: np.random.Generator | None) -> Flips:
        """The flips of one item (drawn after :meth:`window`; identity without ``augment``)."""
        if not self.augment:
            return Flips()
        if rng is None:
            raise ValueError("augmentation needs a generator")
        return draw_flips(rng)

    def apply(
        self, tensors: Sequence[torch.Tensor | None], rng: np.random.Generator | None = None
    ) -> list[torch.Tensor | None]:
        """Crop and augment ``(C, H, W)`` tensors of one item identically (None passes through).

        Raises:
            ValueError: an image smaller than the crop, or tensors of different sizes.
        """
        present = [t for t in tensors if t is not None]
        sizes = {tuple(t.shape[-2:]) for t in present}
        if len(sizes) != 1:
            raise ValueError(f"tensors of one item differ in size: {sorted(sizes)}")
        y, x, h, w = self.window(*sizes.pop(), rng)
        flips = self.flips(rng)
        return [
            None if t is None else apply_flips(t[..., y : y + h, x : x + w], flips) for t in tensors
        ]
