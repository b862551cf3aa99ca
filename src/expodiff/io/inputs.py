"""Checks on input files shared by the readers, reading a mosaic stored as a plain image,
and capturing a C library's stderr."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from enum import Enum
from pathlib import Path

import numpy as np

from ..errors import InputFileError

__all__ = [
    "is_hidden",
    "RAW_FILE_EXTENSIONS",
    "MOSAIC_IMAGE_EXTENSIONS",
    "check_input_path",
    "ForeignFormat",
    "describe_content",
    "captured_stderr",
    "read_image_mosaic",
]

# File name endings (lower case) that a folder listing treats as camera raw files. Sigma's
# .x3f is left out: a Foveon sensor has no colour filter array, so read_raw rejects it.
RAW_FILE_EXTENSIONS = (
    ".arw", ".srf", ".sr2", ".cr2", ".cr3", ".crw", ".nef", ".nrw", ".dng", ".raf", ".orf",
    ".rw2", ".rwl", ".pef", ".srw", ".kdc", ".dcr", ".mrw", ".3fr", ".erf", ".mef", ".mos",
    ".iiq", ".raw",
)  # fmt: skip

# Plain-image containers read_raw(..., cfa=...) accepts as a stored mosaic.
MOSAIC_IMAGE_EXTENSIONS = (".png", ".tif", ".tiff", ".pgm")


def is_hidden(path: Path) -> bool:
    """A dot-file, which folder scans skip: hidden by convention, such as the ``._NAME``
    companions macOS writes on foreign disks and the temporary files of expodiff's own
    atomic writes (``.NAME.XXXX.tmp.EXT``)."""
    return path.name.startswith(".")


def check_input_path(path: Path) -> None:
    """Raise :class:`InputFileError` unless ``path`` is a readable, non-empty file."""
    try:
        path.stat()
    except (FileNotFoundError, NotADirectoryError):
        raise InputFileError(f"{path}: no such file") from None
    except OSError as exc:  # a name too long, a folder on the way that cannot be entered
        raise InputFileError(f"{path}: cannot read ({exc.strerror})") from None
    if path.is_dir():
        raise InputFileError(f"{path}: is a directory, expected a raw file")
    if not path.is_file():
        raise InputFileError(f"{path}: not a regular file")
    if not os.access(path, os.R_OK):
        raise InputFileError(f"{path}: cannot read (permission denied)")
    if path.stat().st_size == 0:
        raise InputFileError(f"{path}: empty file")


class ForeignFormat(Enum):
    """A common non-raw file format, recognised by its first bytes; the value describes it."""

    JPEG = "a JPEG image"
    PNG = "a PNG image"
    GIF = "a GIF image"
    BMP = "a BMP image"
    WEBP = "a WebP image"
    PDF = "a PDF document"
    ZIP = "a ZIP archive"


_MAGIC = (
    (b"\xff\xd8\xff", ForeignFormat.JPEG),
    (b"\x89PNG\r\n\x1a\n", ForeignFormat.PNG),
    (b"GIF8", ForeignFormat.GIF),
    (b"BM", ForeignFormat.BMP),
    (b"%PDF", ForeignFormat.PDF),
    (b"PK\x03\x04", ForeignFormat.ZIP),
)


def describe_content(path: Path) -> ForeignFormat | None:
    """The common non-raw format the first bytes of ``path`` name, or None."""
    with contextlib.suppress(OSError), open(path, "rb") as fh:
        head = fh.read(16)
        for magic, what in _MAGIC:
            if head.startswith(magic):
                return what
        if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
            return ForeignFormat.WEBP
    return None


def _flush_stderr() -> None:
    with contextlib.suppress(AttributeError, ValueError, OSError):  # None, closed, broken
        sys.stderr.flush()


@contextlib.contextmanager
def captured_stderr() -> Iterator[list[str]]:
    """Redirect file descriptor 2 to a temporary file; yield a list that gets its lines.

    For C libraries (LibRaw) that print to the process's stderr. The redirection is
    process-wide while the block runs, so other threads' stderr goes to the sink too.
    """
    lines: list[str] = []
    try:
        saved = os.dup(2)
    except OSError:  # no stderr at all: nothing to capture
        yield lines
        return
    with tempfile.TemporaryFile() as sink:
        _flush_stderr()  # what Python had buffered belongs to the real stderr
        os.dup2(sink.fileno(), 2)
        try:
            yield lines
        finally:
            _flush_stderr()  # and what it buffered meanwhile, to the sink
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            text = sink.read().decode("utf-8", "replace")
            lines.extend(line.strip() for line in text.splitlines() if line.strip())


# Pillow image modes a stored mosaic may have, and how the others are described.
_MOSAIC_MODES = ("I;16", "I;16B", "I;16L", "I", "L")
_MODE_NAMES = {
    "F": "32-bit floating-point",
    "1": "1-bit",
    "P": "palette",
    "LA": "grey-and-alpha",
    "RGB": "colour (RGB)",
    "RGBA": "colour (RGBA)",
    "CMYK": "colour (CMYK)",
    "YCbCr": "colour (YCbCr)",
}


def read_image_mosaic(path: Path) -> tuple[np.ndarray, int]:
    """A single-channel image as uint16, and its bit depth (8 or 16)."""
    from PIL import Image, UnidentifiedImageError

    if path.suffix.lower() not in MOSAIC_IMAGE_EXTENSIONS:
        valid = ", ".join(MOSAIC_IMAGE_EXTENSIONS)
        raise InputFileError(f"{path}: a stored mosaic must be one of {valid}")
    try:
        with Image.open(path) as image:
            if image.mode not in _MOSAIC_MODES:
                kind = _MODE_NAMES.get(image.mode, f"{image.mode}-mode")
                raise InputFileError(
                    f"{path}: a {kind} image, not a single-channel mosaic of 8- or 16-bit integers"
                )
            image.load()
            array = np.array(image)
            bits = 8 if image.mode == "L" else 16
    except Image.DecompressionBombError as exc:
        raise InputFileError(
            f"{path}: refused, the image is too large to read safely ({exc})"
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InputFileError(f"{path}: cannot read the image ({exc})") from None
    if array.ndim != 2:
        raise InputFileError(f"{path}: not a single-channel mosaic (shape {array.shape})")
    if array.min() < 0 or array.max() > np.iinfo(np.uint16).max:
        raise InputFileError(f"{path}: values outside 0..65535")
    return array.astype(np.uint16, copy=False), bits
