"""Shared helpers of the datasets that read camera raw files (SID, ELD, clean-raw folders).

Raw files are read only through :func:`expodiff.io.rawio.read_raw`; this module turns a
:class:`~expodiff.io.rawio.RawFrame` into the packed raw_norm planes and metadata a
:class:`~expodiff.data.types.RawSample` carries, and finds raw files in folders.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from ..errors import DataError
from ..io.inputs import RAW_FILE_EXTENSIONS
from ..io.rawio import RawFrame, read_raw
from .base import list_files

__all__ = [
    "RAW_SUFFIXES",
    "GainForIso",
    "read_bayer",
    "frame_metadata",
    "clean_planes",
    "dn_range",
    "read_pair",
    "list_raw_files",
]

# File name endings treated as camera raw files when a folder is listed (case-insensitive).
RAW_SUFFIXES = RAW_FILE_EXTENSIONS

# K of a camera at an ISO for a file whose white - black is dn_range DN, on the model's
# full_scale_dn scale: ``gain(camera, iso, dn_range)`` (see factory.ProfileGain).
GainForIso = Callable[[str, float, float], float]


def read_bayer(path: Path) -> RawFrame:
    """``read_raw(path)``, refusing non-Bayer sensors (the datasets' planes are R, Gr, B, Gb)."""
    frame = read_raw(path)
    if not frame.cfa.is_bayer:
        raise DataError(
            f"{path}: {frame.cfa.value} sensor; the datasets take Bayer raw files only "
            "(packed planes R, Gr, B, Gb)"
        )
    return frame


def read_pair(short_path: Path, reference_path: Path, where: str = "") -> tuple[RawFrame, RawFrame]:
    """Read a short exposure and its reference; they must match in size and CFA layout.

    Raises:
        DataError: naming both files (and ``where``, e.g. a list line) when they differ.
    """
    short, reference = read_bayer(short_path), read_bayer(reference_path)
    prefix = f"{where}: " if where else ""
    if (short.height, short.width) != (reference.height, reference.width):
        raise DataError(
            f"{prefix}short frame {short_path} is {short.width}x{short.height} but reference "
            f"{reference_path} is {reference.width}x{reference.height}"
        )
    if short.cfa is not reference.cfa:
        raise DataError(f"{prefix}{short_path} and {reference_path} differ in CFA layout")
    return short, reference


def dn_range(frame: RawFrame) -> float:
    """The frame's ``white - black`` in DN (mean over the colour planes): raw_norm 1."""
    return float(frame.sensor.dn_range.mean())


def frame_metadata(frame: RawFrame) -> dict:
    """White balance, colour matrix and CFA of a frame, as :class:`RawSample` fields."""
    return {
        "white_balance": frame.white_balance,
        "colour_matrix": tuple(tuple(float(v) for v in row) for row in frame.colour_matrix),
        "cfa": frame.cfa,
    }


def clean_planes(frame: RawFrame) -> torch.Tensor:
    """Packed raw_norm of a reference frame, clipped to [0, 1] (the target of a clean image)."""
    return frame.packed_norm().clamp_(0.0, 1.0)


def list_raw_files(folder: Path) -> list[Path]:
    """Raw files directly in ``folder`` (by :data:`RAW_SUFFIXES`), sorted by name.

    Raises:
        DataError: the folder is missing or holds no raw file.
    """
    return list_files(folder, RAW_SUFFIXES, "raw")
