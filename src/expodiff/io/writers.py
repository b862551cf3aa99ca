"""Writing developed images (PNG 8/16-bit, TIFF 8/16-bit); DNG lives in :mod:`expodiff.io.dng`.

Every writer validates the output path first (:func:`~expodiff.io.atomic.check_output_path`),
then writes through :func:`~expodiff.io.atomic.atomic_output` (temporary file + rename), so a
failure never leaves a partial file and never clobbers an existing one without
``overwrite=True``.

* PNG, 8-bit: Pillow. PNG, 16-bit: a small encoder here (Pillow cannot write 16-bit RGB):
  IHDR, an ``sRGB`` chunk, zlib-compressed scanlines with the *Sub* filter, IEND.
* TIFF: tifffile, RGB, deflate-compressed with the horizontal predictor.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

from .atomic import atomic_output, check_output_path
from .dng import DNG_EXTENSIONS, write_dng, write_frame_dng

__all__ = [
    "IMAGE_EXTENSIONS",
    "OUTPUT_EXTENSIONS",
    "DNG_EXTENSIONS",
    "default_bits",
    "quantise",
    "write_image",
    "write_dng",
    "write_frame_dng",
]

PNG_EXTENSIONS = (".png",)
TIFF_EXTENSIONS = (".tif", ".tiff")
IMAGE_EXTENSIONS = PNG_EXTENSIONS + TIFF_EXTENSIONS
OUTPUT_EXTENSIONS = IMAGE_EXTENSIONS + DNG_EXTENSIONS


def default_bits(path: str | Path) -> int:
    """8 for PNG (what viewers expect of a photo), 16 for TIFF."""
    return 8 if Path(path).suffix.lower() in PNG_EXTENSIONS else 16


def quantise(srgb: np.ndarray, bits: int) -> np.ndarray:
    """``[0, 1]`` floats -> uint8 (bits=8) or uint16 (bits=16), rounded, clipped."""
    if bits not in (8, 16):
        raise ValueError(f"bits must be 8 or 16, got {bits}")
    array = np.asarray(srgb, dtype=np.float32)
    if not np.all(np.isfinite(array)):
        raise ValueError("image has NaN or infinite values")
    top = (1 << bits) - 1
    dtype = np.uint8 if bits == 8 else np.uint16
    return np.rint(np.clip(array, 0.0, 1.0) * top).astype(dtype)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def encode_png16(rgb16: np.ndarray) -> bytes:
    """A 16-bit RGB PNG (big-endian samples, Sub filter on every scanline)."""
    if rgb16.dtype != np.uint16 or rgb16.ndim != 3 or rgb16.shape[2] != 3:
        raise ValueError(f"expected (H, W, 3) uint16, got {rgb16.shape} {rgb16.dtype}")
    h, w, _ = rgb16.shape
    rows = rgb16.astype(">u2").view(np.uint8).reshape(h, w * 6)
    filtered = rows.copy()
    filtered[:, 6:] = rows[:, 6:] - rows[:, :-6]  # Sub: byte minus the byte one pixel left
    scanlines = np.concatenate([np.ones((h, 1), np.uint8), filtered], axis=1)  # filter type 1
    header = struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)  # 16-bit, truecolour
    return b"".join(
        [
            b"\x89PNG\r\n\x1a\n",
            _png_chunk(b"IHDR", header),
            _png_chunk(b"sRGB", b"\x00"),  # perceptual rendering intent
            _png_chunk(b"IDAT", zlib.compress(scanlines.tobytes(), 6)),
            _png_chunk(b"IEND", b""),
        ]
    )


def write_image(
    path: str | Path, srgb: np.ndarray, *, bits: int | None = None, overwrite: bool = False
) -> Path:
    """Write a display-referred image to ``.png`` (8/16-bit) or ``.tif``/``.tiff`` (8/16-bit).

    Args:
        path: output file; the extension picks the format.
        srgb: ``(H, W, 3)`` float sRGB in ``[0, 1]`` (values outside are clipped).
        bits: 8 or 16; default :func:`default_bits` (8 for PNG, 16 for TIFF).
        overwrite: replace an existing file.

    Returns:
        The written path.

    Raises:
        OutputFileError: bad extension, existing file, missing or unwritable folder.
        ValueError: a bad array or bit depth (a programming error).
    """
    path = check_output_path(path, overwrite=overwrite, extensions=IMAGE_EXTENSIONS)
    bits = default_bits(path) if bits is None else int(bits)
    array = np.asarray(srgb)
    if array.ndim != 3 or array.shape[2] != 3 or 0 in array.shape:
        raise ValueError(f"srgb must have shape (H, W, 3), got {array.shape}")
    pixels = quantise(array, bits)
    with atomic_output(path, overwrite=overwrite) as tmp:
        if path.suffix.lower() in PNG_EXTENSIONS:
            if bits == 8:
                from PIL import Image

                Image.fromarray(pixels).save(tmp, format="PNG")
            else:
                tmp.write_bytes(encode_png16(pixels))
        else:
            import tifffile

            tifffile.imwrite(
                tmp,
                pixels,
                photometric="rgb",
                compression="zlib",
                predictor=True,
                software="expodiff",
            )
    return path
