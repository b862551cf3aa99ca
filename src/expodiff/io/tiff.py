"""The TIFF structure of the DNG and TIFF outputs: a small classic-TIFF writer.

What it writes, so that strict readers (``exiftool -validate``, libtiff, LibRaw, rawspeed)
accept the file:

* little-endian classic TIFF (``II*\\0``), IFD 0 right after the header, word-aligned;
* every IFD's entries sorted by tag, each tag once, each value of the TIFF type given to
  :class:`Entry` (the writers pick the types the TIFF, EXIF and DNG specifications name);
* sub-IFDs (the EXIF IFD) after their parent IFD, each reached through a LONG pointer entry;
* then the image data: the chunks (strips or tiles) one after another, their offsets and
  byte counts filled into the IFD 0 entries the caller names.

Offsets are 32-bit: a file must stay under 4 GiB (:func:`write_tiff` raises otherwise).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import BinaryIO, Union

import numpy as np

__all__ = [
    "BYTE",
    "ASCII",
    "SHORT",
    "LONG",
    "RATIONAL",
    "UNDEFINED",
    "SRATIONAL",
    "Entry",
    "Ifd",
    "string",
    "byte",
    "undefined",
    "short",
    "long",
    "unsigned",
    "rational",
    "srational",
    "strips",
    "write_tiff",
    "exif_bytes",
]

# TIFF 6.0 field types.
BYTE, ASCII, SHORT, LONG, RATIONAL, UNDEFINED, SRATIONAL = 1, 2, 3, 4, 5, 7, 10
_ITEM_SIZE = {BYTE: 1, ASCII: 1, SHORT: 2, LONG: 4, RATIONAL: 8, UNDEFINED: 1, SRATIONAL: 8}
_ORDER = "<"  # little-endian, "II"
_HEADER = b"II" + struct.pack(f"{_ORDER}HI", 42, 8)  # IFD 0 right after the header
_MAX_OFFSET = 2**32 - 1
# Bytes of one strip that :func:`strips` aims at: libtiff advises strips of a few kB to a few
# MB, and one strip per row would make a large IFD.
STRIP_BYTES = 1 << 20
# Largest denominator of rationals that are not exact fractions: 2/3 and 1/30 stay exact,
# any other value of order 1 is within 1e-12.
_MAX_DENOMINATOR = 2**20


@dataclass(frozen=True)
class Entry:
    """One IFD entry's value: its TIFF type and its data, already encoded (little-endian).

    Build it with :func:`string`, :func:`byte`, :func:`undefined`, :func:`short`,
    :func:`long`, :func:`unsigned`, :func:`rational` or :func:`srational`.
    """

    type: int
    count: int
    data: bytes


# An IFD: tag -> entry, or tag -> sub-IFD (written as a LONG pointer to it).
Ifd = dict[int, Union[Entry, "Ifd"]]


def string(text: str) -> Entry:
    """A NUL-terminated string, UTF-8 encoded (ASCII stays ASCII); cut at an embedded NUL,
    where every reader would stop."""
    data = str(text).split("\x00", 1)[0].encode("utf-8") + b"\x00"
    return Entry(ASCII, len(data), data)


def byte(*values: int) -> Entry:
    """BYTE values (0..255)."""
    return Entry(BYTE, len(values), _pack("B", values))


def undefined(data: bytes) -> Entry:
    """UNDEFINED bytes (an ICC profile, EXIF's version strings)."""
    return Entry(UNDEFINED, len(data), bytes(data))


def short(*values: int) -> Entry:
    """SHORT values (0..65535)."""
    return Entry(SHORT, len(values), _pack("H", values))


def long(*values: int) -> Entry:
    """LONG values (0..2**32 - 1)."""
    return Entry(LONG, len(values), _pack("I", values))


def unsigned(*values: int) -> Entry:
    """SHORT when every value fits 16 bits, else LONG (for tags that allow both)."""
    values = tuple(int(v) for v in values)
    return short(*values) if all(0 <= v < 2**16 for v in values) else long(*values)


def _fraction(value: float | Fraction, signed: bool) -> tuple[int, int]:
    """A Fraction as it is when it fits 32 bits, any other number as the closest fraction
    with a denominator of at most 2**20."""
    if not isinstance(value, Fraction) or not value.denominator < 2**32:
        value = Fraction(value).limit_denominator(_MAX_DENOMINATOR)
    low, high = (-(2**31), 2**31) if signed else (0, 2**32)
    if not (low <= value.numerator < high and value.denominator < high):
        kind = "SRATIONAL" if signed else "RATIONAL"
        raise ValueError(f"{float(value)} does not fit a TIFF {kind}")
    return value.numerator, value.denominator


def rational(*values: float | Fraction) -> Entry:
    """RATIONAL values (non-negative; floats as the closest fraction, see :func:`_fraction`)."""
    pairs = [n for v in values for n in _fraction(v, signed=False)]
    return Entry(RATIONAL, len(values), _pack("I", pairs))


def srational(*values: float | Fraction) -> Entry:
    """SRATIONAL values."""
    pairs = [n for v in values for n in _fraction(v, signed=True)]
    return Entry(SRATIONAL, len(values), _pack("i", pairs))


def _pack(code: str, values: Iterable[int]) -> bytes:
    values = [int(v) for v in values]
    try:
        return struct.pack(f"{_ORDER}{len(values)}{code}", *values)
    except struct.error as exc:
        raise ValueError(f"TIFF value out of range in {values[:8]}: {exc}") from None


def _even(n: int) -> int:
    return n + (n & 1)


def _ifd_size(ifd: Ifd) -> int:
    """Bytes of an IFD with its out-of-line values and its sub-IFDs (each word-aligned)."""
    size = 2 + 12 * len(ifd) + 4
    for value in ifd.values():
        if isinstance(value, dict):
            size += _ifd_size(value)
        elif len(value.data) > 4:
            size += _even(len(value.data))
    return size


def _ifd_bytes(ifd: Ifd, start: int) -> bytes:
    """An IFD placed at file offset ``start`` (even): entries, then out-of-line values, then
    sub-IFDs; no next IFD."""
    entries = [struct.pack(f"{_ORDER}H", len(ifd))]
    extra = bytearray()
    subs: list[bytes] = []
    values_start = start + 2 + 12 * len(ifd) + 4
    sub_start = values_start + sum(
        _even(len(v.data)) for v in ifd.values() if isinstance(v, Entry) and len(v.data) > 4
    )
    for tag in sorted(ifd):
        value = ifd[tag]
        if isinstance(value, dict):
            entries.append(struct.pack(f"{_ORDER}HHII", tag, LONG, 1, sub_start))
            sub = _ifd_bytes(value, sub_start)
            subs.append(sub)
            sub_start += len(sub)
        elif len(value.data) <= 4:
            field = value.data.ljust(4, b"\x00")
            entries.append(struct.pack(f"{_ORDER}HHI", tag, value.type, value.count) + field)
        else:
            offset = values_start + len(extra)
            entries.append(struct.pack(f"{_ORDER}HHII", tag, value.type, value.count, offset))
            extra += value.data + b"\x00" * (len(value.data) & 1)
    entries.append(struct.pack(f"{_ORDER}I", 0))  # no next IFD
    return b"".join(entries) + bytes(extra) + b"".join(subs)


def strips(rows: np.ndarray, target_bytes: int = STRIP_BYTES) -> list[memoryview]:
    """An image's rows of bytes cut into strips of about ``target_bytes`` (views, no copies).

    Args:
        rows: ``(H, row_bytes)`` uint8, C-contiguous: each row as the file stores it.

    Returns:
        The strips, all of the same number of rows (RowsPerStrip = the first one's rows)
        except the last.
    """
    height, row_bytes = rows.shape
    per_strip = max(1, min(height, target_bytes // max(row_bytes, 1)))
    return [
        memoryview(rows[top : top + per_strip]).cast("B") for top in range(0, height, per_strip)
    ]


def write_tiff(
    fh: BinaryIO,
    ifd0: Ifd,
    chunks: Sequence[bytes | memoryview],
    *,
    offsets_tag: int,
    byte_counts_tag: int,
) -> None:
    """Write a TIFF file: header, ``ifd0`` (and its sub-IFDs), then the image ``chunks``.

    Args:
        fh: a binary file open for writing, at its start.
        ifd0: the first IFD's entries, without ``offsets_tag`` and ``byte_counts_tag``.
        chunks: the image data, one buffer per strip or tile, in order.
        offsets_tag, byte_counts_tag: the tags that locate the chunks (StripOffsets /
            StripByteCounts, or TileOffsets / TileByteCounts); written as LONGs.

    Raises:
        ValueError: the file would not fit 32-bit offsets, a tag number outside 1..65535,
            or ``ifd0`` already holds the location tags.
    """
    if offsets_tag in ifd0 or byte_counts_tag in ifd0:
        raise ValueError("ifd0 must not hold the chunk location tags; write_tiff sets them")
    _check_tags(ifd0)
    counts = [memoryview(c).nbytes for c in chunks]
    if sum(counts) > _MAX_OFFSET:
        raise ValueError(f"{sum(counts)} bytes of image data do not fit a classic TIFF (4 GiB)")
    ifd = dict(ifd0)
    # Placeholders of the final size: the IFD's layout does not depend on their values.
    ifd[offsets_tag] = long(*[0] * len(counts))
    ifd[byte_counts_tag] = long(*counts)
    data_start = _even(8 + _ifd_size(ifd))
    if data_start + sum(counts) > _MAX_OFFSET:
        raise ValueError(f"{data_start + sum(counts)} bytes do not fit a classic TIFF (4 GiB)")
    offsets, position = [], data_start
    for count in counts:
        offsets.append(position)
        position += count
    ifd[offsets_tag] = long(*offsets)
    head = _HEADER + _ifd_bytes(ifd, 8)
    fh.write(head + b"\x00" * (data_start - len(head)))
    for chunk in chunks:
        fh.write(chunk)


def exif_bytes(ifd0: Ifd) -> bytes:
    """A TIFF structure without an image: header, ``ifd0`` and its sub-IFDs; the EXIF block
    of a PNG's ``eXIf`` chunk (and, after ``Exif\\0\\0``, of a JPEG's APP1)."""
    _check_tags(ifd0)
    return _HEADER + _ifd_bytes(ifd0, 8)


def _check_tags(ifd: Ifd) -> None:
    for tag, value in ifd.items():
        if not 0 < int(tag) < 2**16:
            raise ValueError(f"TIFF tag {tag} is outside 1..65535")
        if isinstance(value, dict):
            _check_tags(value)
