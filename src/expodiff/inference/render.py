"""The enhanced raw to display sRGB, in horizontal strips to bound memory on large frames.

:func:`expodiff.io.isp.develop` on a whole 24-megapixel frame holds several full-size float
copies at once (demosaic filters, colour matrix, transfer curve: over 1 GB). Every step but
the demosaic is per pixel, and the demosaic filters reach 2 photosites, so developing strips
of ``DEVELOP_STRIP`` packed rows with ``STRIP_CONTEXT`` rows of context above and below, and
keeping only each strip's own rows, gives the same image (tests check it) with the memory of
one strip.

:func:`result_metadata` is what the output files of a result record (EXIF, the source's
default crop).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..raw import CFAPattern

if TYPE_CHECKING:
    from ..io.metadata import PhotoMetadata
    from .result import EnhanceResult

__all__ = [
    "DEVELOP_STRIP",
    "STRIP_CONTEXT",
    "packed_pixel_side",
    "develop_in_strips",
    "result_metadata",
]

# Packed rows developed at once (even, so X-Trans strips start on whole 6x6 periods).
DEVELOP_STRIP = 256
# Packed rows of context on each side of a strip: 4 photosites, the 5x5 demosaic filters
# reach 2.
STRIP_CONTEXT = 2


def packed_pixel_side(cfa: CFAPattern) -> int:
    """Photosites per side of one packed pixel: 2 (Bayer), 3 (X-Trans)."""
    return 3 if cfa is CFAPattern.XTRANS else 2


def develop_in_strips(
    packed_norm: torch.Tensor,
    cfa: CFAPattern,
    white_balance: Sequence[float],
    colour_matrix,
    *,
    orientation: int = 1,
    strip: int = DEVELOP_STRIP,
) -> np.ndarray:
    """:func:`~expodiff.io.isp.develop` (default demosaic for the layout) strip by strip,
    then :func:`~expodiff.io.isp.orient`.

    Args:
        packed_norm: ``(C, h, w)`` raw_norm.
        cfa: layout the channels were packed from.
        white_balance: gains per plane (R, Gr, B, Gb).
        colour_matrix: ``(3, 3)`` camera RGB -> linear sRGB.
        orientation: EXIF orientation to rotate the result by.
        strip: packed rows per strip (rounded up to even).

    Returns:
        ``(H, W, 3)`` float32 sRGB in [0, 1], oriented for display.
    """
    from ..io.isp import default_demosaic, develop, orient

    if strip < 1:
        raise ValueError(f"strip must be >= 1, got {strip}")
    strip += strip % 2
    period = packed_pixel_side(cfa)
    _, h, w = packed_norm.shape
    method = default_demosaic(cfa, (h * period, w * period))
    out = np.empty((h * period, w * period, 3), dtype=np.float32)
    for y0 in range(0, h, strip):
        y1 = min(h, y0 + strip)
        top, bottom = max(0, y0 - STRIP_CONTEXT), min(h, y1 + STRIP_CONTEXT)
        part = develop(
            packed_norm[:, top:bottom], cfa, white_balance, colour_matrix, demosaic=method
        )
        out[y0 * period : y1 * period] = part[(y0 - top) * period : (y1 - top) * period]
    return orient(out, orientation)


def result_metadata(result: EnhanceResult) -> PhotoMetadata | None:
    """The metadata the outputs of ``result`` record (None for an array input).

    The source's camera, ISO, date, lens and default crop; the exposure time the enhanced
    image stands for (the input's times the ratio, as in the DNG); a description of the run
    with the input's own exposure time.
    """
    from ..io.metadata import photo_metadata
    from .result import enhanced_exposure_time

    frame = result.frame
    if frame is None:
        return None
    if result.passed_through:
        what = "passed through unchanged (over-exposed for the target)"
    else:
        what = f"{result.ratio:.4g}x brighter (ExposureDiffusion, {result.model_name})"
        if frame.exposure_time is not None:
            what += f", from a {frame.exposure_time} s exposure"
    return photo_metadata(
        frame,
        exposure_time=enhanced_exposure_time(result),
        description=f"expodiff enhance: {what}",
    )
