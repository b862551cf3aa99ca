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
from ..io.rawio import RawFrame, read_raw

__all__ = [
    "RAW_SUFFIXES",
    "GainForIso",
    "read_bayer",
    "frame_metadata",
    "clean_planes",
    "list_raw_files",
]

# File name endings treated as camera raw files when a folder is listed (case-insensitive).
RAW_SUFFIXES = (
    ".arw", ".srf", ".sr2", ".cr2", ".cr3", ".crw", ".nef", ".nrw", ".dng", ".raf", ".orf",
    ".rw2", ".rwl", ".pef", ".srw", ".x3f", ".kdc", ".dcr", ".mrw", ".3fr", ".erf", ".mef",
    ".mos", ".iiq", ".raw",
)  # fmt: skip

# K (DN per electron) of a camera at an ISO: ``gain(camera, iso)``.
GainForIso = Callable[[str, float], float]


def read_bayer(path: Path) -> RawFrame:
    """``read_raw(path)``, refusing non-Bayer sensors (the datasets' planes are R, Gr, B, Gb)."""
    frame = read_raw(path)
    if not frame.cfa.is_bayer:
        raise DataError(
            f"{path}: {frame.cfa.value} sensor; the datasets take Bayer raw files only "
            "(packed planes R, Gr, B, Gb)"
        )
    return frame


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
    if not folder.is_dir():
        raise DataError(f"{folder}: raw folder not found")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in RAW_SUFFIXES)
    if not files:
        raise DataError(f"{folder}: no raw files (by extension: {', '.join(RAW_SUFFIXES)})")
    return files
