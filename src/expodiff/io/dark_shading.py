"""The dark-shading file format: an ``.npz`` of plain arrays (never a pickle).

:class:`~expodiff.noise.dark_shading.DarkShading` is the in-memory model; ``expodiff
calibrate`` writes it beside the camera profile with :func:`save_dark_shading`, and
:func:`load_dark_shading` reads it back, refusing anything else in one line.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import InputFileError
from ..noise.dark_shading import SHADING_ARRAYS, DarkShading

__all__ = ["DARK_SHADING_FORMAT", "save_dark_shading", "load_dark_shading"]

DARK_SHADING_FORMAT = "expodiff-dark-shading/1"


def save_dark_shading(shading: DarkShading, path: str | Path) -> None:
    """Write ``shading`` as an ``.npz`` (plain arrays, loadable without pickle)."""
    ble = np.asarray(shading.black_level_error, dtype=np.float64).reshape(-1, 2)
    with open(path, "wb") as f:
        np.savez_compressed(
            f,
            format=np.array(DARK_SHADING_FORMAT),
            split_iso=np.array(shading.split_iso, dtype=np.float64),
            black_level_error=ble,
            **{name: getattr(shading, name) for name in SHADING_ARRAYS},
        )


def load_dark_shading(path: str | Path) -> DarkShading:
    """Read a file written by :func:`save_dark_shading`.

    Raises:
        InputFileError: naming the file: missing, another format, or not such a file.
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"{path}: no such dark-shading file")
    try:
        with np.load(path, allow_pickle=False) as data:
            fmt = str(data["format"])
            if fmt != DARK_SHADING_FORMAT:
                raise InputFileError(f"{path}: unsupported dark-shading format {fmt!r}")
            return DarkShading(
                **{name: data[name] for name in SHADING_ARRAYS},
                split_iso=float(data["split_iso"]),
                black_level_error=tuple(map(tuple, data["black_level_error"].tolist())),
            )
    except InputFileError:
        raise
    except (OSError, KeyError, ValueError) as exc:
        raise InputFileError(f"{path}: not a dark-shading file ({exc})") from None
