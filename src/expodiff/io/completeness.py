"""Is a raw file's image data all there? A check that LibRaw does not make.

LibRaw reads a TIFF-based raw file (DNG, NEF, CR2, ARW, PEF, ...) whose image data was cut
off without an error when the cut falls before the data: it then hands back a frame of zeros
or of uninitialised memory. TIFF-based files list where every strip or tile of every image
lies (``StripOffsets``/``StripByteCounts``, ``TileOffsets``/``TileByteCounts``, in the main
IFD chain and its ``SubIFDs``), so :func:`tiff_data_end` can say how long the file must be,
and :func:`check_raw_data_complete` refuses a shorter one.

For the other formats LibRaw itself notices most cuts (it raises an I/O error or prints
"Unexpected end of file"); :data:`LIBRAW_TRUNCATION_MESSAGES` lists what it prints, and
:mod:`expodiff.io.rawio` turns those into errors too.
"""

from __future__ import annotations

import mmap
import os
import struct
from pathlib import Path

from ..errors import InputFileError

__all__ = ["tiff_data_end", "check_raw_data_complete", "LIBRAW_TRUNCATION_MESSAGES"]

# What LibRaw prints (to stderr) when a decoder runs out of data or meets garbage.
LIBRAW_TRUNCATION_MESSAGES = ("unexpected end of file", "corrupted data")

# TIFF byte orders and the magic numbers of TIFF-based raw formats: 42 (TIFF, DNG, NEF, CR2,
# ARW, PEF, ...), 0x4F52 / 0x5352 (Olympus ORF "IIRO" / "IISR"), 0x55 (Panasonic RW2 "IIU").
_BYTE_ORDERS = {b"II": "<", b"MM": ">"}
_MAGICS = (42, 0x4F52, 0x5352, 0x55)
# Tag numbers (TIFF 6.0 and the DNG specification).
_STRIP_OFFSETS, _STRIP_BYTE_COUNTS = 273, 279
_TILE_OFFSETS, _TILE_BYTE_COUNTS = 324, 325
_SUB_IFDS = 330
# Field type -> (struct code, size in bytes) for the integer types offsets and counts use.
_INTEGER_TYPES = {3: ("H", 2), 4: ("L", 4), 13: ("L", 4), 16: ("Q", 8)}
_MAX_IFDS = 64  # a loop or a hostile file cannot keep the walk going


class _Reader:
    """Bounds-checked little/big-endian reads from a TIFF held in memory."""

    def __init__(self, data, order: str) -> None:
        self.data, self.order = data, order

    def unpack(self, code: str, offset: int, count: int = 1) -> tuple[int, ...] | None:
        size = struct.calcsize(f"{self.order}{count}{code}")
        if offset < 0 or offset + size > len(self.data):
            return None
        return struct.unpack_from(f"{self.order}{count}{code}", self.data, offset)


def _ifd_entries(reader: _Reader, offset: int) -> tuple[dict[int, tuple[int, ...]], int] | None:
    """The integer-valued entries of the IFD at ``offset`` and the next IFD's offset."""
    head = reader.unpack("H", offset)
    if head is None:
        return None
    entries: dict[int, tuple[int, ...]] = {}
    for i in range(head[0]):
        entry = reader.unpack("HHL", offset + 2 + 12 * i)
        if entry is None:
            return None
        tag, field_type, count = entry
        if field_type not in _INTEGER_TYPES or count == 0:
            continue
        code, size = _INTEGER_TYPES[field_type]
        value_at = offset + 2 + 12 * i + 8
        if size * count > 4:
            pointer = reader.unpack("L", value_at)
            if pointer is None:
                return None
            value_at = pointer[0]
        values = reader.unpack(code, value_at, count)
        if values is None:  # the value array itself lies past the end: a cut file
            entries[tag] = (len(reader.data) + 1,)
            continue
        entries[tag] = values
    nxt = reader.unpack("L", offset + 2 + 12 * head[0])
    return entries, (0 if nxt is None else nxt[0])


def tiff_data_end(path: Path) -> int | None:
    """The byte offset where the last strip or tile of a TIFF-based file ends.

    Returns None when the file is not TIFF-based (or lists no image data). The file is
    memory-mapped: only the pages holding its IFDs are read.
    """
    with open(path, "rb") as fh:
        if os.fstat(fh.fileno()).st_size < 8:
            return None
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
            return _data_end(data)


def _data_end(data) -> int | None:
    order = _BYTE_ORDERS.get(data[:2])
    if order is None or len(data) < 8:
        return None
    reader = _Reader(data, order)
    magic, first = reader.unpack("HL", 2) or (0, 0)
    if magic not in _MAGICS:
        return None
    end = 0
    pending, seen = [first], set()
    while pending and len(seen) < _MAX_IFDS:
        offset = pending.pop()
        if offset == 0 or offset in seen:
            continue
        seen.add(offset)
        if offset >= len(data):  # an IFD past the end of the file
            return offset + 2
        parsed = _ifd_entries(reader, offset)
        if parsed is None:
            return len(data) + 1
        entries, nxt = parsed
        for offsets_tag, counts_tag in (
            (_STRIP_OFFSETS, _STRIP_BYTE_COUNTS),
            (_TILE_OFFSETS, _TILE_BYTE_COUNTS),
        ):
            offsets, counts = entries.get(offsets_tag), entries.get(counts_tag)
            if offsets and counts:
                end = max(end, max(o + c for o, c in zip(offsets, counts, strict=False)))
        pending.extend(entries.get(_SUB_IFDS, ()))
        pending.append(nxt)
    return end or None


def check_raw_data_complete(path: Path) -> None:
    """Raise :class:`InputFileError` when a TIFF-based raw file ends before its image data.

    Other formats pass (LibRaw's own checks cover them, see the module docstring).
    """
    size = path.stat().st_size
    end = tiff_data_end(path)
    if end is not None and end > size:
        raise InputFileError(
            f"{path}: truncated: the file has {size:,} bytes but its image data needs "
            f"{end:,} (an incomplete copy or download?)"
        )
