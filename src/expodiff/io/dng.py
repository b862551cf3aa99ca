"""Writing a raw mosaic as a DNG that LibRaw, darktable and Lightroom open as a raw file.

Uses pidng's uncompressed writer (one tile holding the whole image; 10, 12 or 16 bits per
sample: these read back bit-exactly through LibRaw, pidng's 14-bit and compressed modes do
not). Tags written, beyond pidng's DNGVersion 1.4 / backward version 1.0:

==========================  ==============================================================
tag                         value
==========================  ==============================================================
PhotometricInterpretation   32803 (CFA), one sample per pixel
CFARepeatPatternDim         2x2 (Bayer) or 6x6 (X-Trans, canonical phase)
CFAPattern / CFAPlaneColor  the source layout, planes R=0, G=1, B=2; CFALayout 1
BlackLevelRepeatDim         the CFA period; BlackLevel per photosite of one period
WhiteLevel                  ``sensor.white_level``
AsShotNeutral               ``1 / gain`` for R, G, B (the white balance)
ColorMatrix1                XYZ -> camera (:func:`~expodiff.io.isp.cam_xyz_from_colour_matrix`)
CalibrationIlluminant1      21 (D65)
Make, Model                 when known; UniqueCameraModel ``"make model"`` or ``"expodiff"``
Orientation                 the frame's TIFF orientation
ExposureTime                the exact fraction (TIFF RATIONAL)
ISOSpeedRatings (0x8827)    ISO rounded to an integer, at most 65535 (EXIF's convention)
DateTimeOriginal, DateTime  with a ``metadata``: when the source was taken
FNumber, FocalLength        with a ``metadata``: the source's (TIFF/EP tags in IFD 0)
LensModel (0xA434)          with a ``metadata``: the source's lens
ImageDescription, Software  with a ``metadata``: how the file was made; ``expodiff``
DefaultCropOrigin/Size      with a ``metadata``: the source's default crop (the part of the
                            image meant to be shown; a Blackmagic DNG's last columns are
                            dark and outside it)
==========================  ==============================================================

:func:`write_frame_dng` passes the frame's :func:`~expodiff.io.metadata.photo_metadata`.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..raw import CFAPattern, cfa_period
from ..sensor import SensorSpec
from .atomic import atomic_output, check_output_path
from .isp import cam_xyz_from_colour_matrix
from .metadata import PhotoMetadata, photo_metadata

if TYPE_CHECKING:
    from .rawio import RawFrame

__all__ = ["DNG_EXTENSIONS", "DNG_BITS", "write_dng", "write_frame_dng"]

DNG_EXTENSIONS = (".dng",)
DNG_BITS = (10, 12, 16)
_D65 = 21  # EXIF LightSource / DNG CalibrationIlluminant code
_CFA_COLOUR = {"R": 0, "G": 1, "B": 2}
# Largest denominator of the rationals written: exact for simple fractions (1/30 s, 2/3),
# within 1e-12 of any other value of order 1.
_MAX_DENOMINATOR = 2**20
# dcraw's identify() (and so LibRaw) treats an image narrower or shorter than this as no raw.
_LIBRAW_MIN_SIDE = 22


def _rational(value: float | Fraction) -> tuple[int, int]:
    """A Fraction as it is when it fits 32 bits; a float as the closest fraction with a
    denominator of at most 2**20 (so 2/3 and 1/30 come out exact)."""
    if isinstance(value, Fraction) and value.denominator < 2**32:
        pass
    else:
        value = Fraction(value).limit_denominator(_MAX_DENOMINATOR)
    if abs(value.numerator) >= 2**31:
        raise ValueError(f"{float(value)} does not fit a TIFF rational")
    return value.numerator, value.denominator


def _cfa_colours(cfa: CFAPattern) -> list[int]:
    """Colour (0=R, 1=G, 2=B) of each photosite of one period, raster order."""
    if cfa is CFAPattern.XTRANS:
        from ..raw import XTRANS_CANONICAL

        return [c for row in XTRANS_CANONICAL for c in row]
    return [_CFA_COLOUR[letter] for letter in cfa.value]


def _as_uint_mosaic(mosaic_dn, bits: int) -> np.ndarray:
    if isinstance(mosaic_dn, torch.Tensor):
        mosaic_dn = mosaic_dn.detach().cpu().numpy()
    array = np.asarray(mosaic_dn)
    if array.ndim != 2:
        raise ValueError(f"mosaic_dn must have shape (H, W), got {array.shape}")
    if not np.issubdtype(array.dtype, np.integer):
        if not np.all(np.isfinite(array)):
            raise ValueError("mosaic_dn has NaN or infinite values")
        array = np.rint(array)
    return np.clip(array, 0, (1 << bits) - 1).astype(np.uint16)


def write_dng(
    path: str | Path,
    mosaic_dn,
    sensor: SensorSpec,
    *,
    white_balance: Sequence[float] = (1.0, 1.0, 1.0, 1.0),
    colour_matrix=None,
    make: str | None = None,
    model: str | None = None,
    iso: float | None = None,
    exposure_time: Fraction | float | None = None,
    orientation: int = 1,
    bits: int = 16,
    overwrite: bool = False,
    metadata: PhotoMetadata | None = None,
) -> Path:
    """Write a raw mosaic as an uncompressed DNG (atomically).

    Args:
        path: output ``.dng`` file.
        mosaic_dn: ``(H, W)`` DN in the layout ``sensor.cfa`` (X-Trans: canonical phase),
            H and W multiples of the CFA period and at least 22 (LibRaw's minimum);
            floats are rounded, all values clipped to ``[0, 2**bits - 1]``.
        sensor: CFA, per-plane black levels (rounded to integers) and white level.
        white_balance: as-shot gains per plane (R, Gr, B, Gb); stored as AsShotNeutral.
        colour_matrix: ``(3, 3)`` camera RGB -> linear sRGB (rows sum to 1); None = identity.
        make, model, iso, exposure_time, orientation: metadata (see the module table);
            ``exposure_time`` in seconds, a Fraction keeps it exact.
        bits: 10, 12 or 16 bits per sample.
        overwrite: replace an existing file.
        metadata: the source's date, f-number, focal length, lens, description and default
            crop (in pixels of this mosaic); the explicit arguments above win over its make,
            model, ISO and exposure time.

    Returns:
        The written path.
    """
    from pidng.dng import Tag

    path = check_output_path(path, overwrite=overwrite, extensions=DNG_EXTENSIONS)
    mosaic = _checked_mosaic(mosaic_dn, sensor, bits)
    h, w = mosaic.shape
    if not 1 <= orientation <= 8:
        raise ValueError(f"orientation must be 1..8, got {orientation}")
    neutral = _as_shot_neutral(white_balance)
    matrix = np.eye(3) if colour_matrix is None else np.asarray(colour_matrix, np.float64)
    cam_xyz = cam_xyz_from_colour_matrix(matrix)

    tags = _layout_tags(h, w, sensor.cfa, bits, orientation)
    _set_level_tags(tags, sensor)
    tags.set(Tag.AsShotNeutral, [_rational(n) for n in neutral])
    tags.set(Tag.ColorMatrix1, [_rational(v) for v in cam_xyz.ravel()])
    tags.set(Tag.CalibrationIlluminant1, _D65)
    _set_camera_tags(tags, make, model, iso, exposure_time)
    tags.set(Tag.Software, metadata.software if metadata is not None else "expodiff")
    if metadata is not None:
        _set_photo_tags(tags, metadata, h, w)
    data = _encode(tags, mosaic)
    with atomic_output(path, overwrite=overwrite) as tmp:
        tmp.write_bytes(data)
    return path


def _checked_mosaic(mosaic_dn, sensor: SensorSpec, bits: int) -> np.ndarray:
    """The mosaic as ``(H, W)`` uint16, after checking it and ``bits`` can make a DNG.

    Raises:
        ValueError: ``bits`` is not one of :data:`DNG_BITS` or cannot hold the white level;
            the mosaic is not 2-D, not finite, not a whole number of CFA periods, under
            LibRaw's minimum size, or of a width the bit packing cannot take.
    """
    if bits not in DNG_BITS:
        raise ValueError(f"bits must be one of {DNG_BITS}, got {bits}")
    if sensor.white_level >= 2**bits:
        raise ValueError(f"white level {sensor.white_level} does not fit in {bits} bits")
    mosaic = _as_uint_mosaic(mosaic_dn, bits)
    h, w = mosaic.shape
    period = cfa_period(sensor.cfa)
    if h == 0 or w == 0 or h % period or w % period:
        raise ValueError(f"mosaic size {h}x{w} is not a multiple of the CFA period {period}")
    if h < _LIBRAW_MIN_SIDE or w < _LIBRAW_MIN_SIDE:
        raise ValueError(
            f"mosaic size {h}x{w}: LibRaw (like dcraw) refuses raws under "
            f"{_LIBRAW_MIN_SIDE}x{_LIBRAW_MIN_SIDE}"
        )
    if bits == 10 and w % 4 or bits == 12 and w % 2:
        raise ValueError(f"{bits}-bit packing needs a width that is a multiple of 4 (10) or 2")
    return mosaic


def _as_shot_neutral(white_balance: Sequence[float]) -> list[float]:
    """AsShotNeutral (R, G, B relative to green) of the as-shot gains (R, Gr, B, Gb)."""
    gains = [float(g) for g in white_balance]
    if len(gains) != 4 or not all(np.isfinite(g) and g > 0 for g in gains):
        raise ValueError(f"white_balance needs 4 positive gains, got {white_balance}")
    green = gains[1]
    return [green / gains[0], 1.0, green / gains[2]]


def _layout_tags(height: int, width: int, cfa: CFAPattern, bits: int, orientation: int):
    """New pidng ``DNGTags`` with the image's size, one tile, orientation and CFA layout."""
    from pidng.defs import PhotometricInterpretation
    from pidng.dng import DNGTags, Tag

    period = cfa_period(cfa)
    tags = DNGTags()
    tags.set(Tag.ImageWidth, width)
    tags.set(Tag.ImageLength, height)
    tags.set(Tag.TileWidth, width)
    tags.set(Tag.TileLength, height)
    tags.set(Tag.Orientation, int(orientation))
    tags.set(Tag.PhotometricInterpretation, PhotometricInterpretation.Color_Filter_Array)
    tags.set(Tag.SamplesPerPixel, 1)
    tags.set(Tag.BitsPerSample, bits)
    tags.set(Tag.PlanarConfiguration, 1)
    tags.set(Tag.CFARepeatPatternDim, [period, period])
    tags.set(Tag.CFAPattern, _cfa_colours(cfa))
    tags.set(Tag.CFAPlaneColor, [0, 1, 2])
    tags.set(Tag.CFALayout, 1)
    return tags


def _set_level_tags(tags, sensor: SensorSpec) -> None:
    """BlackLevel per photosite of one CFA period (rounded) and WhiteLevel."""
    from pidng.dng import Tag, Type

    if sensor.cfa is CFAPattern.XTRANS and len(set(sensor.black_level)) > 1:
        # LibRaw keeps a 6x6 black pattern aside and reports only its common part.
        raise ValueError("an X-Trans DNG needs one black level for all colour planes")
    period = cfa_period(sensor.cfa)
    black_tile = sensor.mosaic_black().round().to(torch.int64).flatten().tolist()
    tags.set(Tag.BlackLevelRepeatDim, [period, period])
    tags.set(Tag.BlackLevel, black_tile)
    white_tag = Tag.WhiteLevel if sensor.white_level < 2**16 else (50717, Type.Long)
    tags.set(white_tag, int(round(sensor.white_level)))


def _set_camera_tags(
    tags,
    make: str | None,
    model: str | None,
    iso: float | None,
    exposure_time: Fraction | float | None,
) -> None:
    """Make, Model, UniqueCameraModel, ExposureTime and ISO (the ones that are known)."""
    from pidng.dng import Tag

    if make:
        tags.set(Tag.Make, str(make))
    if model:
        tags.set(Tag.Model, str(model))
    unique = " ".join(p for p in (make, model) if p) or "expodiff"
    tags.set(Tag.UniqueCameraModel, unique)
    if exposure_time is not None:
        tags.set(Tag.ExposureTime, [_rational(exposure_time)])
    if iso is not None and iso > 0:
        tags.set(Tag.PhotographicSensitivity, min(int(round(iso)), 65535))


def _encode(tags, mosaic: np.ndarray) -> bytes:
    """The DNG file's bytes: pidng's uncompressed writer, in memory."""
    from pidng.core import RAW2DNG

    writer = RAW2DNG()
    writer.options(tags, path="", compress=False)
    return bytes(writer.convert(mosaic, filename=""))


def _set_photo_tags(tags, meta: PhotoMetadata, height: int, width: int) -> None:
    """The ``metadata`` rows of the module table."""
    from pidng.dng import Tag, Type

    if meta.datetime_original:
        tags.set(Tag.DateTimeOriginal, meta.datetime_original)
        tags.set(Tag.DateTime, meta.datetime_original)
    if meta.f_number is not None:
        tags.set(Tag.FNumber, [_rational(meta.f_number)])
    if meta.focal_length is not None:
        tags.set(Tag.FocalLength, [_rational(meta.focal_length)])
    if meta.lens_model:
        tags.set((0xA434, Type.Ascii), meta.lens_model)
    if meta.description:
        tags.set(Tag.ImageDescription, meta.description)
    if meta.default_crop is not None:
        x, y, w, h = meta.default_crop
        if not (0 <= x and 0 <= y and w > 0 and h > 0 and x + w <= width and y + h <= height):
            raise ValueError(
                f"default crop {meta.default_crop} is outside the {width}x{height} image"
            )
        tags.set(Tag.DefaultCropOrigin, [x, y])
        tags.set(Tag.DefaultCropSize, [w, h])


def write_frame_dng(
    path: str | Path,
    frame: RawFrame,
    *,
    bits: int = 16,
    overwrite: bool = False,
    metadata: PhotoMetadata | None = None,
) -> Path:
    """:func:`write_dng` of a :class:`~expodiff.io.rawio.RawFrame` with all its metadata
    (``metadata`` default: :func:`~expodiff.io.metadata.photo_metadata` of the frame)."""
    return write_dng(
        path,
        frame.mosaic,
        frame.sensor,
        white_balance=frame.white_balance,
        colour_matrix=frame.colour_matrix,
        make=frame.make,
        model=frame.model,
        iso=frame.iso,
        exposure_time=frame.exposure_time,
        orientation=frame.orientation,
        bits=bits,
        overwrite=overwrite,
        metadata=photo_metadata(frame) if metadata is None else metadata,
    )
