"""Metadata of a raw file read without decoding its image.

* :func:`read_exif`: make, model, ISO and exposure time (exact rationals) from TIFF/EXIF tags
  via exifread, and whether the file is a DNG;
* :func:`libraw_make_model`: LibRaw's own make/model (through rawpy's shared library and
  ctypes, since rawpy does not expose them) for files without those tags;
* :func:`read_photo_tags`: what outputs carry beyond the frame's own fields (date, f-number,
  focal length, lens, a DNG's ``DefaultCrop``), and :func:`photo_metadata`, the
  :class:`PhotoMetadata` of an output written from a frame (the writers in
  :mod:`expodiff.io.writers` and :mod:`expodiff.io.dng` serialise it).

:func:`expodiff.io.rawio.read_raw` combines them with what LibRaw decodes. With
:mod:`expodiff.io.rawio`, this is the only module that imports rawpy or exifread.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
import os
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

from .inputs import captured_stderr

if TYPE_CHECKING:
    from .frame import RawFrame

__all__ = [
    "ExifMetadata",
    "PhotoTags",
    "PhotoMetadata",
    "read_exif",
    "read_photo_tags",
    "photo_metadata",
    "libraw_make_model",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExifMetadata:
    """What a file's TIFF/EXIF tags say; None where a tag is missing.

    Attributes:
        make, model: camera maker and model.
        iso: ISO speed (from the 32-bit tags where the 16-bit one saturates at 65535).
        exposure_time: seconds as an exact fraction.
        bad_exposure_time: the ExposureTime tag as written when it is not a positive time
            (``"1/0"``, ``"0"``, ``"nan"``, ...); ``exposure_time`` is then None and the
            time is unknown (no other source may replace it).
        is_dng: the file carries a DNGVersion tag.
    """

    make: str | None = None
    model: str | None = None
    iso: float | None = None
    exposure_time: Fraction | None = None
    bad_exposure_time: str | None = None
    is_dng: bool = False


def _ratio(value) -> Fraction | None:
    """An exifread rational (or a number) as a positive fraction, else None."""
    try:
        num, den = int(value.numerator), int(value.denominator)
    except (AttributeError, TypeError, ValueError):
        try:
            return Fraction(value) if value else None
        except (TypeError, ValueError):
            return None
    return Fraction(num, den) if den and num > 0 else None


@dataclass(frozen=True)
class PhotoTags:
    """Tags of a source file that its outputs carry on (None where missing).

    Attributes:
        datetime_original: when the photo was taken, EXIF's ``"YYYY:MM:DD HH:MM:SS"``
            (DateTimeOriginal, else the file's DateTime).
        f_number, focal_length: as exact fractions (focal length in mm).
        lens_model: the lens, as the camera names it.
        default_crop: a DNG's ``DefaultCropOrigin`` + ``DefaultCropSize`` as ``(x, y, width,
            height)`` in pixels of the active area, the part of the image meant to be shown.
    """

    datetime_original: str | None = None
    f_number: Fraction | None = None
    focal_length: Fraction | None = None
    lens_model: str | None = None
    default_crop: tuple[int, int, int, int] | None = None


@dataclass(frozen=True)
class PhotoMetadata:
    """The photographic metadata an output file records (EXIF, DNG crop).

    Attributes:
        make, model, iso, exposure_time: the camera, ISO and exposure (seconds, exact) the
            output stands for (an enhanced image: the input's exposure times the ratio).
        datetime_original, f_number, focal_length, lens_model: from the source file.
        description: a line on how the output was made (``ImageDescription``).
        default_crop: ``(x, y, width, height)`` of the raw mosaic meant to be shown (a DNG's
            ``DefaultCrop``), within ``raw_size``; None = all of it.
        raw_size: ``(height, width)`` of the raw mosaic.
        raw_orientation: the source's TIFF/EXIF orientation (1-8) of the raw mosaic.
        software: the ``Software`` tag.
    """

    make: str | None = None
    model: str | None = None
    iso: float | None = None
    exposure_time: Fraction | None = None
    datetime_original: str | None = None
    f_number: Fraction | None = None
    focal_length: Fraction | None = None
    lens_model: str | None = None
    description: str | None = None
    default_crop: tuple[int, int, int, int] | None = None
    raw_size: tuple[int, int] | None = None
    raw_orientation: int = 1
    software: str = "expodiff"


def _exif_tags(path: Path) -> dict | None:
    """exifread's tags of a file (its C-level chatter captured), or None when it has none
    it can read: exifread raises many kinds of errors on non-TIFF files, and tags are optional."""
    import exifread

    try:
        with open(path, "rb") as fh, captured_stderr():
            return exifread.process_file(fh, details=False)
    except Exception as exc:
        log.debug("%s: no EXIF/TIFF tags read (%s)", path, exc)
        return None


def read_photo_tags(path: Path) -> PhotoTags:
    """The source tags of :class:`PhotoTags` from a file's TIFF/EXIF/DNG tags.

    A file without such tags (or not a TIFF-based file) gives an empty :class:`PhotoTags`;
    an unreadable one too (the raw reader reports those).
    """
    tags = _exif_tags(path)
    if tags is None:
        return PhotoTags()

    def values(*names):
        for name in names:
            tag = tags.get(name)
            if tag is not None and tag.values not in ("", [], None):
                return tag.values
        return None

    def text(*names) -> str | None:
        value = values(*names)
        if isinstance(value, str):
            value = value.strip().strip("\x00").strip()
            return value or None
        return None

    def ratio(*names) -> Fraction | None:
        value = values(*names)
        return _ratio(value[0]) if isinstance(value, list) and value else None

    crop = None
    origin = values("Image DefaultCropOrigin", "Image Tag 0xC61F")
    size = values("Image DefaultCropSize", "Image Tag 0xC620")
    if isinstance(origin, list) and isinstance(size, list) and len(origin) == len(size) == 2:
        try:
            x, y, w, h = (round(float(_ratio(v) or 0)) for v in (*origin, *size))
        except (TypeError, ValueError):
            x = y = w = h = 0
        if w > 0 and h > 0 and x >= 0 and y >= 0:
            crop = (x, y, w, h)
    return PhotoTags(
        datetime_original=text(
            "EXIF DateTimeOriginal", "Image DateTimeOriginal", "Image DateTime", "EXIF DateTime"
        ),
        f_number=ratio("EXIF FNumber", "Image FNumber"),
        focal_length=ratio("EXIF FocalLength", "Image FocalLength"),
        lens_model=text("EXIF LensModel", "Image LensModel"),
        default_crop=crop,
    )


def photo_metadata(
    frame: RawFrame,
    *,
    exposure_time: Fraction | None = None,
    description: str | None = None,
) -> PhotoMetadata:
    """The :class:`PhotoMetadata` of an output written from ``frame``.

    Make, model, ISO, exposure time and orientation come from the frame (which already
    merges EXIF and LibRaw); date, f-number, focal length, lens and a DNG's default crop from
    the frame's file (:func:`read_photo_tags`). The crop is clipped to the frame's mosaic
    (cropped to whole CFA periods) and dropped when it covers all of it or the frame is
    X-Trans (whose mosaic starts at the canonical phase, not at the file's origin).

    Args:
        frame: the source frame.
        exposure_time: the exposure the output stands for (default: the frame's).
        description: the ``ImageDescription`` line.
    """
    tags = read_photo_tags(frame.path) if frame.path is not None else PhotoTags()
    h, w = frame.height, frame.width
    crop = tags.default_crop
    if crop is not None:
        x, y, cw, ch = crop
        cw, ch = min(cw, w - x), min(ch, h - y)
        bayer = frame.cfa.is_bayer
        crop = (x, y, cw, ch) if bayer and cw > 0 and ch > 0 else None
        if crop == (0, 0, w, h):
            crop = None
    meta = PhotoMetadata(
        make=frame.make,
        model=frame.model,
        iso=frame.iso,
        exposure_time=frame.exposure_time,
        datetime_original=tags.datetime_original,
        f_number=tags.f_number,
        focal_length=tags.focal_length,
        lens_model=tags.lens_model,
        description=description,
        default_crop=crop,
        raw_size=(h, w),
        raw_orientation=frame.orientation,
    )
    if exposure_time is not None:
        meta = replace(meta, exposure_time=Fraction(exposure_time))
    return meta


def read_exif(path: Path) -> ExifMetadata:
    """Make, model, ISO and exposure time from the file's TIFF/EXIF tags (when it has any).

    Args:
        path: any file; one without TIFF/EXIF tags gives an empty :class:`ExifMetadata`.

    Returns:
        What the tags hold (exact rationals for the exposure time).
    """
    tags = _exif_tags(path)
    if tags is None:
        return ExifMetadata()

    def first(*names):
        for name in names:
            tag = tags.get(name)
            if tag is not None:
                values = tag.values
                if isinstance(values, str):
                    return values.strip().strip("\x00").strip() or None
                if values:
                    return values[0]
        return None

    time_tag = first("EXIF ExposureTime", "Image ExposureTime")
    exposure_time = _ratio(time_tag)
    return ExifMetadata(
        make=first("Image Make"),
        model=first("Image Model"),
        iso=_iso(first),
        exposure_time=exposure_time,
        bad_exposure_time=None if time_tag is None or exposure_time else str(time_tag),
        is_dng="Image DNGVersion" in tags or "Image Tag 0xC612" in tags,  # tag 50706
    )


# EXIF 2.3 (CIPA DC-008), PhotographicSensitivity: a value of 65535 or more is written as
# 65535 and the true one goes to one of the 32-bit (LONG) tags named by SensitivityType.
ISO_TAG_LIMIT = 65535
_ISO_32BIT_TAGS = ("ISOSpeed", "RecommendedExposureIndex", "Tag 0x8831")  # 0x8831: SOS


def _iso(first) -> float | None:
    """The ISO of the tags (``first(*names)`` reads one): the 16-bit tag, or where it is
    missing or saturated, the first positive 32-bit one."""
    rated = first("EXIF ISOSpeedRatings", "Image ISOSpeedRatings", "EXIF PhotographicSensitivity")
    rated = rated if isinstance(rated, int) and rated > 0 else None
    if rated is None or rated >= ISO_TAG_LIMIT:
        for name in _ISO_32BIT_TAGS:
            value = first(f"EXIF {name}", f"Image {name}")
            if isinstance(value, int) and value > 0:
                return float(value)
    return float(rated) if rated is not None else None


@functools.cache
def _libraw_library():
    """rawpy's own LibRaw shared library via ctypes, for the fields rawpy does not expose."""
    import rawpy

    candidates = sorted(Path(rawpy.__file__).parent.glob("*raw*"))
    libraries = (".so", ".dylib", ".dll")
    names = [str(p) for p in candidates if p.suffix in libraries or ".so." in p.name]
    system = ctypes.util.find_library("raw_r") or ctypes.util.find_library("raw")
    if system:
        names.append(system)
    for name in names:
        try:
            lib = ctypes.CDLL(name)
            lib.libraw_init.restype = ctypes.c_void_p
            lib.libraw_init.argtypes = [ctypes.c_uint]
            lib.libraw_open_file.restype = ctypes.c_int
            lib.libraw_open_file.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
            lib.libraw_get_iparams.restype = ctypes.c_void_p
            lib.libraw_get_iparams.argtypes = [ctypes.c_void_p]
            lib.libraw_close.argtypes = [ctypes.c_void_p]
            return lib
        except (OSError, AttributeError):
            continue
    return None


def libraw_make_model(path: Path) -> tuple[str | None, str | None]:
    """LibRaw's ``iparams.make`` / ``model`` (``char guard[4]; char make[64]; char model[64]``).

    For files without EXIF make/model tags; ``(None, None)`` when LibRaw is not reachable
    through ctypes or cannot open the file.
    """
    lib = _libraw_library()
    if lib is None:
        return None, None
    handle = lib.libraw_init(0)
    if not handle:
        return None, None
    try:
        with captured_stderr():
            if lib.libraw_open_file(handle, os.fsencode(path)) != 0:
                return None, None
        iparams = lib.libraw_get_iparams(handle)
        if not iparams:
            return None, None
        raw = ctypes.string_at(iparams, 4 + 64 + 64)
    finally:
        lib.libraw_close(handle)

    def text(chunk: bytes) -> str | None:
        value = chunk.split(b"\0", 1)[0].decode("ascii", "replace").strip()
        return value if value and value.isprintable() else None

    return text(raw[4:68]), text(raw[68:132])
