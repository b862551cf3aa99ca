"""The inputs :func:`expodiff.enhance` accepts, as packed raw_norm with their frame.

A raw file path, a :class:`~expodiff.io.frame.RawFrame`, a ``(H, W)`` raw mosaic in DN
(with ``cfa``, ``white_level`` and optionally ``black_level``) or a ``(C, h, w)`` packed
raw_norm array. Floating-point inputs holding NaN or infinite values are refused with an
error naming the input: expodiff never guesses missing data, so such values can never turn
into a silently black or white image.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import ExpodiffError, InputFileError
from ..io.frame import RawFrame, frame_from_mosaic
from ..kinds import parse_enum
from ..raw import CFAPattern, packed_channels
from ..sensor import SensorSpec

__all__ = [
    "EnhanceInput",
    "PACKED_NORM_RANGE",
    "check_finite",
    "check_packed_norm",
    "prepare_input",
]


@dataclass(frozen=True, eq=False)
class EnhanceInput:
    """One input, ready for enhancement.

    Attributes:
        packed_norm: ``(C, h, w)`` float32 raw_norm as captured (not amplified).
        frame: the frame it came from (None for a packed array).
        name: how messages name it (the path, ``"frame"`` or ``"array"``).
        cfa: the layout the channels were packed from.
    """

    packed_norm: torch.Tensor
    frame: RawFrame | None
    name: str
    cfa: CFAPattern


def check_finite(values: torch.Tensor | np.ndarray, name: str) -> None:
    """Raise :class:`InputFileError` naming ``name`` when ``values`` holds NaN or inf."""
    if isinstance(values, torch.Tensor):
        bad = int((~torch.isfinite(values)).sum()) if values.is_floating_point() else 0
    else:
        array = np.asarray(values)
        bad = int((~np.isfinite(array)).sum()) if np.issubdtype(array.dtype, np.floating) else 0
    if bad:
        raise InputFileError(
            f"{name}: the raw data holds {bad} NaN or infinite values; expodiff does not "
            "guess them (repair or crop the input)"
        )


# The values a packed raw_norm array may hold: 0 is black and 1 white; noise around black
# and a file's headroom above its white level give a little either side, no more.
PACKED_NORM_RANGE = (-0.5, 2.0)


def check_packed_norm(array: torch.Tensor | np.ndarray) -> None:
    """Raise :class:`ExpodiffError` unless ``array`` is floating-point raw_norm.

    A packed array in raw DN (integers, or floats in the thousands) would otherwise come out
    all white, and one in some other scale silently wrong.
    """
    dtype = array.dtype
    floating = (
        dtype.is_floating_point
        if isinstance(dtype, torch.dtype)
        else (np.issubdtype(dtype, np.floating))
    )
    if not floating:
        raise ExpodiffError(
            f"array: a packed raw must be floating-point raw_norm (0 = black, 1 = white), got "
            f"{dtype} values; pass raw DN as a (H, W) mosaic with cfa=, black_level= and "
            "white_level="
        )
    check_finite(array, "array")
    values = array if isinstance(array, torch.Tensor) else torch.from_numpy(np.asarray(array))
    low, high = float(values.min()), float(values.max())
    if low < PACKED_NORM_RANGE[0] or high > PACKED_NORM_RANGE[1]:
        raise ExpodiffError(
            f"array: values from {low:.4g} to {high:.4g} are not raw_norm (0 = black, 1 = white; "
            f"accepted {PACKED_NORM_RANGE[0]:g} to {PACKED_NORM_RANGE[1]:g}); raw DN go in as "
            "a (H, W) mosaic with cfa=, black_level= and white_level="
        )


class SourceTypeError(ExpodiffError, TypeError):
    """The source of an enhancement is of a type that holds no image."""

    def __init__(self, source: Any) -> None:
        kind = type(source).__name__
        hint = ""
        if isinstance(source, (bytes, bytearray)):
            hint = " (for a file's contents, pass its path instead)"
        elif isinstance(source, (list, tuple)):
            hint = " (wrap it as numpy.asarray(...))"
        super().__init__(
            "source must be a raw file path (str or pathlib.Path), a RawFrame, or a numpy "
            f"array / torch tensor (a (H, W) mosaic or a (C, h, w) packed raw_norm), got "
            f"{kind}{hint}"
        )


def prepare_input(
    source: Any,
    cfa: CFAPattern | str | None = None,
    black_level: float | Sequence[float] | None = None,
    white_level: float | None = None,
) -> EnhanceInput:
    """Read or wrap ``source`` (see the module docstring).

    Raises:
        InputFileError: an unreadable file, or NaN/inf values.
        SourceTypeError: ``source`` is none of the types above (bytes, None, a number, ...).
        ExpodiffError: an empty array or one of the wrong shape, a packed array that is not
            floating-point raw_norm (see :data:`PACKED_NORM_RANGE`), or a mosaic without
            ``cfa``/levels.
    """
    if isinstance(source, (str, Path)):
        from ..io.rawio import read_raw

        frame = read_raw(source)
        name = str(source)
    elif isinstance(source, RawFrame):
        frame = source
        name = str(source.path) if source.path is not None else "frame"
    elif not isinstance(source, (np.ndarray, torch.Tensor)):
        raise SourceTypeError(source)
    else:
        array = source.detach().cpu() if isinstance(source, torch.Tensor) else np.asarray(source)
        if array.size == 0 if isinstance(array, np.ndarray) else array.numel() == 0:
            raise ExpodiffError(f"array: empty (shape {tuple(array.shape)})")
        if array.ndim == 3:  # packed raw_norm
            check_packed_norm(array)
            packed = torch.as_tensor(np.asarray(array), dtype=torch.float32)
            layout = (
                parse_enum(CFAPattern, cfa) if isinstance(cfa, str) else (cfa or CFAPattern.RGGB)
            )
            if packed.shape[0] != packed_channels(layout):
                raise ExpodiffError(
                    f"array: a packed raw must have {packed_channels(layout)} channels for "
                    f"{layout.value}, got shape {tuple(packed.shape)}"
                )
            return EnhanceInput(packed, None, "array", layout)
        if array.ndim != 2:
            raise ExpodiffError(
                f"array: expected a (H, W) raw mosaic or a (C, h, w) packed raw_norm, got "
                f"shape {tuple(array.shape)}"
            )
        if cfa is None or white_level is None:
            raise ExpodiffError("array: a raw mosaic needs cfa= and white_level= (DN)")
        check_finite(array, "array")
        layout = parse_enum(CFAPattern, cfa) if isinstance(cfa, str) else CFAPattern(cfa)
        black = 0.0 if black_level is None else black_level
        blacks = (float(black),) * 4 if np.isscalar(black) else tuple(float(b) for b in black)
        try:
            sensor = SensorSpec(blacks, float(white_level), layout)
            frame = frame_from_mosaic(np.asarray(array), sensor)
        except ValueError as exc:
            raise ExpodiffError(f"array: {exc}") from None
        name = "array"
    check_finite(frame.mosaic, name)
    return EnhanceInput(frame.packed_norm(), frame, name, frame.cfa)
