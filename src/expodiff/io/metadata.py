"""Metadata of a raw file read without decoding its image.

* :func:`read_exif`: make, model, ISO and exposure time (exact rationals) from TIFF/EXIF tags
  via exifread, and whether the file is a DNG;
* :func:`libraw_make_model`: LibRaw's own make/model (through rawpy's shared library and
  ctypes, since rawpy does not expose them) for files without those tags.

:func:`expodiff.io.rawio.read_raw` combines them with what LibRaw decodes. With
:mod:`expodiff.io.rawio`, this is the only module that imports rawpy or exifread.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from .inputs import captured_stderr

__all__ = ["ExifMetadata", "read_exif", "libraw_make_model"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExifMetadata:
    """What a file's TIFF/EXIF tags say; None where a tag is missing.

    Attributes:
        make, model: camera maker and model.
        iso: ISO speed.
        exposure_time: seconds as an exact fraction.
        is_dng: the file carries a DNGVersion tag.
    """

    make: str | None = None
    model: str | None = None
    iso: float | None = None
    exposure_time: Fraction | None = None
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


def read_exif(path: Path) -> ExifMetadata:
    """Make, model, ISO and exposure time from the file's TIFF/EXIF tags (when it has any).

    Args:
        path: any file; one without TIFF/EXIF tags gives an empty :class:`ExifMetadata`.

    Returns:
        What the tags hold (exact rationals for the exposure time).
    """
    import exifread

    try:
        with open(path, "rb") as fh, captured_stderr():
            tags = exifread.process_file(fh, details=False)
    except Exception as exc:  # exifread raises many kinds on non-TIFF files; EXIF is optional
        log.debug("%s: no EXIF read (%s)", path, exc)
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

    iso = first("EXIF ISOSpeedRatings", "Image ISOSpeedRatings", "EXIF PhotographicSensitivity")
    return ExifMetadata(
        make=first("Image Make"),
        model=first("Image Model"),
        iso=float(iso) if isinstance(iso, int) and iso > 0 else None,
        exposure_time=_ratio(first("EXIF ExposureTime", "Image ExposureTime")),
        is_dng="Image DNGVersion" in tags or "Image Tag 0xC612" in tags,  # tag 50706
    )


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
