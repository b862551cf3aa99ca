"""Writing a raw mosaic as a DNG that LibRaw, darktable, RawTherapee and Lightroom open as a raw
file, and that ``exiftool -validate`` passes without a warning.

The file structure comes from :mod:`expodiff.io.tiff`: one uncompressed raw image in IFD 0,
in strips, 10, 12 (packed, most significant bits first, as DNG stores them) or 16 bits per
sample; the photographic tags in an EXIF IFD, as the EXIF specification and Adobe's DNG
Converter place them. Tags written:

==========================  ==============================================================
tag                         value
==========================  ==============================================================
*IFD 0*
NewSubfileType              0 (the main image)
DNGVersion / BackwardVersion  1.4.0.0 / 1.0.0.0
PhotometricInterpretation   32803 (CFA), one sample per pixel, Compression 1 (none)
CFARepeatPatternDim         2x2 (Bayer) or 6x6 (X-Trans, canonical phase)
CFAPattern / CFAPlaneColor  the source layout, planes R=0, G=1, B=2; CFALayout 1
BlackLevelRepeatDim         the CFA period; BlackLevel per photosite of one period
WhiteLevel                  ``sensor.white_level``
AsShotNeutral               ``1 / gain`` for R, G, B (the white balance)
ColorMatrix1                XYZ -> camera (:func:`~expodiff.io.isp.cam_xyz_from_colour_matrix`)
CalibrationIlluminant1      21 (D65)
Make, Model                 when known; UniqueCameraModel ``"make model"`` or ``"expodiff"``
Orientation                 the frame's TIFF orientation
Software                    ``expodiff`` (with a ``metadata``: its ``software``)
ImageDescription, DateTime  with a ``metadata``: how the file was made; when the source was
                            taken
DefaultCropOrigin/Size      with a ``metadata``: the source's default crop (the part of the
                            image meant to be shown; a Blackmagic DNG's last columns are
                            dark and outside it)
*EXIF IFD*
ExifVersion                 0232
ExposureTime                the exact fraction (RATIONAL)
ISOSpeedRatings (0x8827)    ISO rounded to an integer, at most 65535 (EXIF's convention)
SensitivityType, ISOSpeed   from ISO 65535 on: 3 (ISO speed) and the true ISO (LONG), as
                            EXIF 2.3 prescribes for values the 16-bit tag cannot hold
DateTimeOriginal            with a ``metadata``: when the source was taken
FNumber, FocalLength        with a ``metadata``: the source's
LensModel (0xA434)          with a ``metadata``: the source's lens
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

from ..errors import InputFileError
from ..raw import CFAPattern, cfa_period
from ..sensor import SensorSpec
from . import tiff
from .atomic import atomic_output, check_output_path
from .isp import cam_xyz_from_colour_matrix
from .metadata import ISO_TAG_LIMIT, PhotoMetadata, photo_metadata

if TYPE_CHECKING:
    from .rawio import RawFrame

__all__ = [
    "DNG_EXTENSIONS",
    "DNG_BITS",
    "LIBRAW_MIN_SIDE",
    "check_dng_size",
    "write_dng",
    "write_frame_dng",
]

DNG_EXTENSIONS = (".dng",)
DNG_BITS = (10, 12, 16)
_D65 = 21  # EXIF LightSource / DNG CalibrationIlluminant code
_CFA_COLOUR = {"R": 0, "G": 1, "B": 2}
# dcraw's identify() (and so LibRaw) treats an image narrower or shorter than this as no raw.
LIBRAW_MIN_SIDE = 22


def check_dng_size(source: str | Path, height: int, width: int) -> None:
    """Raise :class:`~expodiff.errors.InputFileError` naming ``source`` when a mosaic of
    ``height`` x ``width`` photosites is too small for a DNG that raw readers open."""
    if min(height, width) < LIBRAW_MIN_SIDE:
        raise InputFileError(
            f"{source}: a {width} x {height} mosaic is too small for a DNG (raw readers such "
            f"as LibRaw refuse raws under {LIBRAW_MIN_SIDE} x {LIBRAW_MIN_SIDE} photosites)"
        )


# TIFF 6.0 tags of IFD 0.
_NEW_SUBFILE_TYPE, _IMAGE_WIDTH, _IMAGE_LENGTH, _BITS_PER_SAMPLE = 0x00FE, 0x0100, 0x0101, 0x0102
_COMPRESSION, _PHOTOMETRIC, _IMAGE_DESCRIPTION, _MAKE = 0x0103, 0x0106, 0x010E, 0x010F
_MODEL, _STRIP_OFFSETS, _ORIENTATION, _SAMPLES_PER_PIXEL = 0x0110, 0x0111, 0x0112, 0x0115
_ROWS_PER_STRIP, _STRIP_BYTE_COUNTS, _PLANAR_CONFIGURATION = 0x0116, 0x0117, 0x011C
_SOFTWARE, _DATETIME, _EXIF_IFD = 0x0131, 0x0132, 0x8769
# TIFF/EP tags of IFD 0.
_CFA_REPEAT_PATTERN_DIM, _CFA_PATTERN = 0x828D, 0x828E
# DNG 1.4 tags of IFD 0.
_DNG_VERSION, _DNG_BACKWARD_VERSION, _UNIQUE_CAMERA_MODEL = 0xC612, 0xC613, 0xC614
_CFA_PLANE_COLOR, _CFA_LAYOUT, _BLACK_LEVEL_REPEAT_DIM = 0xC616, 0xC617, 0xC619
_BLACK_LEVEL, _WHITE_LEVEL, _DEFAULT_CROP_ORIGIN = 0xC61A, 0xC61D, 0xC61F
_DEFAULT_CROP_SIZE, _COLOR_MATRIX_1, _AS_SHOT_NEUTRAL, _CALIBRATION_ILLUMINANT_1 = (
    0xC620, 0xC621, 0xC628, 0xC65A,
)  # fmt: skip
# EXIF 2.32 tags of the EXIF IFD.
_EXPOSURE_TIME, _F_NUMBER, _ISO, _EXIF_VERSION = 0x829A, 0x829D, 0x8827, 0x9000
# EXIF 2.3: SensitivityType 3 says the ISOSpeed tag (LONG) holds the ISO speed.
_SENSITIVITY_TYPE, _ISO_SPEED, _SENSITIVITY_ISO_SPEED = 0x8830, 0x8833, 3
_DATETIME_ORIGINAL, _FOCAL_LENGTH, _LENS_MODEL = 0x9003, 0x920A, 0xA434
_CFA_PHOTOMETRIC = 32803  # PhotometricInterpretation of a colour filter array (TIFF/EP)


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
    path = check_output_path(path, overwrite=overwrite, extensions=DNG_EXTENSIONS)
    mosaic = _checked_mosaic(mosaic_dn, sensor, bits)
    h, w = mosaic.shape
    if not 1 <= orientation <= 8:
        raise ValueError(f"orientation must be 1..8, got {orientation}")
    neutral = _as_shot_neutral(white_balance)
    matrix = np.eye(3) if colour_matrix is None else np.asarray(colour_matrix, np.float64)
    cam_xyz = cam_xyz_from_colour_matrix(matrix)

    ifd0 = _layout_tags(h, w, sensor.cfa, bits, orientation)
    ifd0 |= _level_tags(sensor)
    ifd0[_AS_SHOT_NEUTRAL] = tiff.rational(*neutral)
    ifd0[_COLOR_MATRIX_1] = tiff.srational(*cam_xyz.ravel())
    ifd0[_CALIBRATION_ILLUMINANT_1] = tiff.short(_D65)
    ifd0[_SOFTWARE] = tiff.string(metadata.software if metadata is not None else "expodiff")
    ifd0 |= _camera_tags(make, model)
    exif = {_EXIF_VERSION: tiff.undefined(b"0232")} | _exposure_tags(iso, exposure_time)
    if metadata is not None:
        photo_ifd0, photo_exif = _photo_tags(metadata, h, w)
        ifd0 |= photo_ifd0
        exif |= photo_exif
    ifd0[_EXIF_IFD] = exif
    packed = _pack_rows(mosaic, bits)
    chunks = tiff.strips(packed)
    ifd0[_ROWS_PER_STRIP] = tiff.long(chunks[0].nbytes // packed.shape[1])
    with atomic_output(path, overwrite=overwrite) as tmp, open(tmp, "wb") as fh:
        tiff.write_tiff(
            fh, ifd0, chunks, offsets_tag=_STRIP_OFFSETS, byte_counts_tag=_STRIP_BYTE_COUNTS
        )
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
    if h < LIBRAW_MIN_SIDE or w < LIBRAW_MIN_SIDE:
        raise ValueError(
            f"mosaic size {h}x{w}: LibRaw (like dcraw) refuses raws under "
            f"{LIBRAW_MIN_SIDE}x{LIBRAW_MIN_SIDE}"
        )
    if bits == 10 and w % 4 or bits == 12 and w % 2:
        raise ValueError(f"{bits}-bit packing needs a width that is a multiple of 4 (10) or 2")
    return mosaic


def _pack_rows(mosaic: np.ndarray, bits: int) -> np.ndarray:
    """The samples as DNG stores them uncompressed, one row of bytes per mosaic row:
    16 bits little-endian (the file's byte order); 12 and 10 bits packed most significant
    bit first (2 samples in 3 bytes, 4 samples in 5 bytes)."""
    if bits == 16:
        return np.ascontiguousarray(mosaic, dtype="<u2").view(np.uint8)
    m = mosaic.astype(np.uint16)
    if bits == 12:
        a, b = m[:, 0::2], m[:, 1::2]
        groups = [a >> 4, ((a & 0xF) << 4) | (b >> 8), b & 0xFF]
    else:
        a, b, c, d = m[:, 0::4], m[:, 1::4], m[:, 2::4], m[:, 3::4]
        groups = [
            a >> 2,
            ((a & 0x3) << 6) | (b >> 4),
            ((b & 0xF) << 4) | (c >> 6),
            ((c & 0x3F) << 2) | (d >> 8),
            d & 0xFF,
        ]
    return np.stack(groups, axis=-1).astype(np.uint8).reshape(m.shape[0], -1)


def _as_shot_neutral(white_balance: Sequence[float]) -> list[float]:
    """AsShotNeutral (R, G, B relative to green) of the as-shot gains (R, Gr, B, Gb)."""
    gains = [float(g) for g in white_balance]
    if len(gains) != 4 or not all(np.isfinite(g) and g > 0 for g in gains):
        raise ValueError(f"white_balance needs 4 positive gains, got {white_balance}")
    green = gains[1]
    return [green / gains[0], 1.0, green / gains[2]]


def _layout_tags(height: int, width: int, cfa: CFAPattern, bits: int, orientation: int):
    """IFD 0's image structure: size, samples, orientation, CFA layout, DNG version."""
    period = cfa_period(cfa)
    return {
        _NEW_SUBFILE_TYPE: tiff.long(0),
        _IMAGE_WIDTH: tiff.long(width),
        _IMAGE_LENGTH: tiff.long(height),
        _BITS_PER_SAMPLE: tiff.short(bits),
        _COMPRESSION: tiff.short(1),
        _PHOTOMETRIC: tiff.short(_CFA_PHOTOMETRIC),
        _ORIENTATION: tiff.short(int(orientation)),
        _SAMPLES_PER_PIXEL: tiff.short(1),
        _PLANAR_CONFIGURATION: tiff.short(1),
        _CFA_REPEAT_PATTERN_DIM: tiff.short(period, period),
        _CFA_PATTERN: tiff.byte(*_cfa_colours(cfa)),
        _DNG_VERSION: tiff.byte(1, 4, 0, 0),
        _DNG_BACKWARD_VERSION: tiff.byte(1, 0, 0, 0),
        _CFA_PLANE_COLOR: tiff.byte(0, 1, 2),
        _CFA_LAYOUT: tiff.short(1),
    }


def _level_tags(sensor: SensorSpec) -> dict:
    """BlackLevel per photosite of one CFA period (rounded) and WhiteLevel."""
    if sensor.cfa is CFAPattern.XTRANS and len(set(sensor.black_level)) > 1:
        # LibRaw keeps a 6x6 black pattern aside and reports only its common part.
        raise ValueError("an X-Trans DNG needs one black level for all colour planes")
    period = cfa_period(sensor.cfa)
    black_tile = sensor.mosaic_black().round().to(torch.int64).flatten().tolist()
    if min(black_tile) < 0:
        raise ValueError(f"black levels must be >= 0, got {sensor.black_level}")
    return {
        _BLACK_LEVEL_REPEAT_DIM: tiff.short(period, period),
        _BLACK_LEVEL: tiff.unsigned(*black_tile),
        _WHITE_LEVEL: tiff.unsigned(int(round(sensor.white_level))),
    }


def _camera_tags(make: str | None, model: str | None) -> dict:
    """Make, Model (the ones that are known) and UniqueCameraModel."""
    tags = {}
    if make:
        tags[_MAKE] = tiff.string(make)
    if model:
        tags[_MODEL] = tiff.string(model)
    tags[_UNIQUE_CAMERA_MODEL] = tiff.string(" ".join(p for p in (make, model) if p) or "expodiff")
    return tags


def _exposure_tags(iso: float | None, exposure_time: Fraction | float | None) -> dict:
    """The EXIF IFD's ExposureTime and ISO (the ones that are known)."""
    tags = {}
    if exposure_time is not None:
        tags[_EXPOSURE_TIME] = tiff.rational(exposure_time)
    if iso is not None and iso > 0:
        value = int(round(iso))
        tags[_ISO] = tiff.short(min(value, ISO_TAG_LIMIT))
        if value >= ISO_TAG_LIMIT:
            tags[_SENSITIVITY_TYPE] = tiff.short(_SENSITIVITY_ISO_SPEED)
            tags[_ISO_SPEED] = tiff.long(value)
    return tags


def _photo_tags(meta: PhotoMetadata, height: int, width: int) -> tuple[dict, dict]:
    """The ``metadata`` rows of the module table: ``(IFD 0 tags, EXIF IFD tags)``."""
    ifd0, exif = {}, {}
    if meta.datetime_original:
        exif[_DATETIME_ORIGINAL] = tiff.string(meta.datetime_original)
        ifd0[_DATETIME] = tiff.string(meta.datetime_original)
    if meta.f_number is not None:
        exif[_F_NUMBER] = tiff.rational(meta.f_number)
    if meta.focal_length is not None:
        exif[_FOCAL_LENGTH] = tiff.rational(meta.focal_length)
    if meta.lens_model:
        exif[_LENS_MODEL] = tiff.string(meta.lens_model)
    if meta.description:
        ifd0[_IMAGE_DESCRIPTION] = tiff.string(meta.description)
    if meta.default_crop is not None:
        x, y, w, h = meta.default_crop
        if not (0 <= x and 0 <= y and w > 0 and h > 0 and x + w <= width and y + h <= height):
            raise ValueError(
                f"default crop {meta.default_crop} is outside the {width}x{height} image"
            )
        ifd0[_DEFAULT_CROP_ORIGIN] = tiff.unsigned(x, y)
        ifd0[_DEFAULT_CROP_SIZE] = tiff.unsigned(w, h)
    return ifd0, exif


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
