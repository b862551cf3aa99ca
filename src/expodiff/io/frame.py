"""The decoded raw frame: a visible, CFA-aligned mosaic and what is known about it.

:class:`RawFrame` is what :func:`expodiff.io.rawio.read_raw` returns and what datasets and the
enhancer consume; :func:`frame_from_mosaic` builds one from arrays. This module reads no
files (and does not import rawpy), so code that only handles frames stays light.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

from ..raw import CFAPattern, cfa_period, pack
from ..sensor import SensorSpec

__all__ = [
    "RawFrame",
    "frame_from_mosaic",
    "rationalise_exposure_time",
    "format_exposure_time",
]


@dataclass(frozen=True, eq=False)
class RawFrame:
    """A decoded raw file: the visible, CFA-aligned mosaic and what is known about it.

    Attributes:
        mosaic: ``(H, W)`` DN as stored, H and W multiples of the CFA period (X-Trans on the
            canonical phase); uint16, or float32 when values are not integers. Read-only.
        sensor: CFA, per-plane black levels (R, Gr, B, Gb) and white level.
        white_balance: as-shot gains per plane (R, Gr, B, Gb), green = 1.
        colour_matrix: ``(3, 3)`` camera RGB -> linear sRGB (rows sum to 1); identity if
            unknown. Read-only.
        make, model: camera maker and model as the file names them, or None.
        iso: ISO speed, or None.
        exposure_time: seconds as an exact fraction, or None.
        path: the file it was read from, or None.
        orientation: TIFF/EXIF Orientation 1-8 (how to rotate for display).
    """

    mosaic: np.ndarray
    sensor: SensorSpec
    white_balance: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)
    colour_matrix: np.ndarray = field(default_factory=lambda: np.eye(3))
    make: str | None = None
    model: str | None = None
    iso: float | None = None
    exposure_time: Fraction | None = None
    path: Path | None = None
    orientation: int = 1

    def __post_init__(self) -> None:
        mosaic = np.asarray(self.mosaic)
        if mosaic.ndim != 2:
            raise ValueError(f"mosaic must have shape (H, W), got {mosaic.shape}")
        period = cfa_period(self.sensor.cfa)
        h, w = mosaic.shape
        if h == 0 or w == 0 or h % period or w % period:
            raise ValueError(f"mosaic size {h}x{w} is not a multiple of the CFA period {period}")
        dtype = np.uint16 if mosaic.dtype == np.uint16 else np.float32
        if mosaic.dtype != dtype or mosaic.flags.writeable:
            mosaic = np.array(mosaic, dtype=dtype)  # a private copy, made read-only
            mosaic.setflags(write=False)
        object.__setattr__(self, "mosaic", mosaic)
        wb = tuple(float(g) for g in self.white_balance)
        if len(wb) != 4 or not all(np.isfinite(g) and g > 0 for g in wb):
            raise ValueError(f"white_balance needs 4 positive gains, got {self.white_balance}")
        object.__setattr__(self, "white_balance", wb)
        matrix = np.array(self.colour_matrix, dtype=np.float64)
        if matrix.shape != (3, 3) or not np.all(np.isfinite(matrix)):
            raise ValueError(f"colour_matrix must be a finite 3x3 matrix, got {matrix.shape}")
        matrix.setflags(write=False)
        object.__setattr__(self, "colour_matrix", matrix)
        if self.exposure_time is not None:
            object.__setattr__(self, "exposure_time", Fraction(self.exposure_time))
        if self.iso is not None:
            object.__setattr__(self, "iso", float(self.iso))
        if self.path is not None:
            object.__setattr__(self, "path", Path(self.path))
        if self.orientation not in range(1, 9):
            raise ValueError(f"orientation must be 1..8, got {self.orientation}")

    @property
    def cfa(self) -> CFAPattern:
        return self.sensor.cfa

    @property
    def height(self) -> int:
        return int(self.mosaic.shape[0])

    @property
    def width(self) -> int:
        return int(self.mosaic.shape[1])

    @property
    def camera(self) -> str | None:
        """``"make model"`` without a repeated maker name, or None."""
        if self.model and self.make and self.model.lower().startswith(self.make.lower()):
            return self.model
        parts = [p for p in (self.make, self.model) if p]
        return " ".join(parts) or None

    def packed_dn(self) -> torch.Tensor:
        """``(C, H/2, W/2)`` (Bayer, C=4) or ``(9, H/3, W/3)`` (X-Trans) float32 DN."""
        return pack(torch.from_numpy(self.mosaic.astype(np.float32)), self.cfa)

    def packed_norm(self) -> torch.Tensor:
        """:meth:`packed_dn` as raw_norm: ``(dn - black) / (white - black)``, per plane."""
        return self.sensor.normalize_packed(self.packed_dn())


def rationalise_exposure_time(seconds: float) -> Fraction | None:
    """An exact fraction for a shutter time known only as a float.

    Below 1/2 s the result is ``1/N`` with N the nearest integer to ``1 / seconds`` (how
    shutter speeds are named: LibRaw's 0.004348 -> 1/230); from 1/2 s on, the nearest
    fraction with a denominator of at most 10 (4.967 -> 5, 1.3 -> 13/10). Returns None for
    a missing (0, negative, NaN) time. Exact EXIF rationals never go through this.
    """
    if not (seconds > 0 and np.isfinite(seconds)):
        return None
    if seconds < 0.5:
        return Fraction(1, max(1, round(1.0 / seconds)))
    return Fraction(seconds).limit_denominator(10)


def format_exposure_time(exposure_time: Fraction | None) -> str:
    """Human form: ``"5 s"``, ``"1/10 s"``, ``"87/20000 s (~1/230 s)"``, or ``"unknown"``."""
    if exposure_time is None:
        return "unknown"
    t = Fraction(exposure_time)
    if t.denominator == 1 or t.numerator == 1:
        return f"{t} s"
    if t < 1:
        return f"{t} s (~1/{round(1 / t)} s)"
    return f"{t} s (~{float(t):.4g} s)"


def frame_from_mosaic(
    mosaic: np.ndarray | torch.Tensor,
    sensor: SensorSpec,
    *,
    white_balance: Sequence[float] = (1.0, 1.0, 1.0, 1.0),
    colour_matrix: np.ndarray | None = None,
    make: str | None = None,
    model: str | None = None,
    iso: float | None = None,
    exposure_time: Fraction | None = None,
    path: str | Path | None = None,
    orientation: int = 1,
) -> RawFrame:
    """A :class:`RawFrame` from an in-memory mosaic.

    Args:
        mosaic: ``(H, W)`` DN in the layout ``sensor.cfa`` (X-Trans: canonical phase);
            trailing rows/columns beyond whole CFA periods are cropped. Integer arrays are
            stored as uint16, others as float32.
        sensor: CFA and levels of the mosaic.
        white_balance, colour_matrix, make, model, iso, exposure_time, path, orientation:
            as in :class:`RawFrame`; ``colour_matrix=None`` means identity.
    """
    if isinstance(mosaic, torch.Tensor):
        mosaic = mosaic.detach().cpu().numpy()
    array = np.asarray(mosaic)  # RawFrame makes the private read-only copy
    if array.ndim != 2:
        raise ValueError(f"mosaic must have shape (H, W), got {array.shape}")
    period = cfa_period(sensor.cfa)
    h, w = (array.shape[0] // period) * period, (array.shape[1] // period) * period
    array = array[:h, :w]
    if np.issubdtype(array.dtype, np.integer):
        if array.size and (array.min() < 0 or array.max() > np.iinfo(np.uint16).max):
            raise ValueError("integer mosaic values must lie in 0..65535")
        array = array.astype(np.uint16, copy=False)
    return RawFrame(
        mosaic=array,
        sensor=sensor,
        white_balance=tuple(white_balance),
        colour_matrix=np.eye(3) if colour_matrix is None else colour_matrix,
        make=make,
        model=model,
        iso=iso,
        exposure_time=exposure_time,
        path=None if path is None else Path(path),
        orientation=orientation,
    )
