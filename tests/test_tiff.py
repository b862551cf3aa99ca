"""The TIFF structure writer under the DNG and TIFF outputs (expodiff.io.tiff)."""

from __future__ import annotations

import io
import struct
from fractions import Fraction

import numpy as np
import pytest
import tifffile

from expodiff.io import tiff

EXIF_IFD = 0x8769


def _entries(data: bytes, offset: int) -> list[tuple[int, int, int, bytes]]:
    """The raw entries ``(tag, type, count, value field)`` of the IFD at ``offset``."""
    (n,) = struct.unpack_from("<H", data, offset)
    return [
        struct.unpack_from("<HHI4s", data, offset + 2 + 12 * i)
        for i in range(n)
    ]  # fmt: skip


def _write(ifd0, chunks, **kw) -> bytes:
    buffer = io.BytesIO()
    tiff.write_tiff(buffer, ifd0, chunks, offsets_tag=0x0111, byte_counts_tag=0x0117, **kw)
    return buffer.getvalue()


def test_structure_is_sorted_aligned_and_readable():
    pixels = np.arange(5 * 3 * 3, dtype=np.uint16).reshape(5, 3, 3)
    rows = pixels.view(np.uint8).reshape(5, -1)
    chunks = tiff.strips(rows, target_bytes=40)  # 2 rows (36 bytes) a strip: 3 strips
    assert [c.nbytes for c in chunks] == [36, 36, 18]
    exif = {
        0x9003: tiff.string("2024:01:02 03:04:05"),  # out of line, odd length with its NUL
        0x8827: tiff.short(3200),  # inline
        0x9000: tiff.undefined(b"0232"),
        0x829A: tiff.rational(Fraction(1, 30)),
    }
    ifd0 = {  # not in tag order: the writer sorts
        0x0131: tiff.string("expodiff"),
        0x0100: tiff.long(3),
        0x0101: tiff.long(5),
        0x0102: tiff.short(16, 16, 16),
        0x0103: tiff.short(1),
        0x0106: tiff.short(2),
        0x0115: tiff.short(3),
        0x0116: tiff.long(2),
        EXIF_IFD: exif,
        0xC621: tiff.srational(-0.5, Fraction(2, 3), 1.25),
        0x010F: tiff.string("Fujïfilm"),
    }
    data = _write(ifd0, chunks)
    assert data[:8] == b"II*\x00\x08\x00\x00\x00"
    entries = _entries(data, 8)
    tags = [e[0] for e in entries]
    assert tags == sorted(set(tags)) and 0x0111 in tags and 0x0117 in tags
    (exif_offset,) = struct.unpack("<I", dict((e[0], e[3]) for e in entries)[EXIF_IFD])
    assert exif_offset % 2 == 0
    assert [e[0] for e in _entries(data, exif_offset)] == sorted(exif)
    for tag, _, _, field in entries:
        value = ifd0.get(tag)
        if isinstance(value, tiff.Entry) and len(value.data) > 4:
            assert struct.unpack("<I", field)[0] % 2 == 0, hex(tag)  # word-aligned values

    with tifffile.TiffFile(io.BytesIO(data)) as tif:
        page = tif.pages.first
        np.testing.assert_array_equal(page.asarray(), pixels)
        t = page.tags
        assert t["Make"].value == "Fujïfilm" and t["Software"].value == "expodiff"
        assert t[0xC621].value == (-1, 2, 2, 3, 5, 4)
        sub = t["ExifTag"].value
        assert sub["DateTimeOriginal"] == "2024:01:02 03:04:05"
        assert sub["ISOSpeedRatings"] == 3200 and sub["ExposureTime"] == (1, 30)
        assert sub["ExifVersion"] == "0232"


def test_value_helpers():
    assert tiff.unsigned(1, 65535).type == tiff.SHORT
    assert tiff.unsigned(1, 65536).type == tiff.LONG
    assert tiff.string("a\x00b").data == b"a\x00"  # readers stop at the first NUL
    assert tiff.rational(0.1).data == struct.pack("<II", 1, 10)
    assert tiff.rational(Fraction(320714, 64751)).data == struct.pack("<II", 320714, 64751)
    third = struct.unpack("<II", tiff.rational(1 / 3).data)
    assert third == (1, 3)


def test_refusals():
    with pytest.raises(ValueError, match="out of range"):
        tiff.short(65536)
    with pytest.raises(ValueError, match="RATIONAL"):
        tiff.rational(-1)
    with pytest.raises(ValueError, match="SRATIONAL"):
        tiff.srational(2.0**31)
    with pytest.raises(ValueError, match="location tags"):
        _write({0x0111: tiff.long(0)}, [b"x"])
    with pytest.raises(ValueError, match="outside 1..65535"):
        _write({0x10000: tiff.short(1)}, [b"x"])
    # 4 GiB of image data (a zero-stride view: nothing allocated) is refused before writing
    huge = np.lib.stride_tricks.as_strided(np.zeros(1, np.uint8), (2**32,), (0,))
    buffer = io.BytesIO()
    with pytest.raises(ValueError, match="4 GiB"):
        tiff.write_tiff(buffer, {}, [huge], offsets_tag=0x0111, byte_counts_tag=0x0117)
    assert buffer.getvalue() == b""


def test_exif_bytes_is_a_tiff_without_image():
    data = tiff.exif_bytes({0x0131: tiff.string("expodiff"), EXIF_IFD: {0xA001: tiff.short(1)}})
    assert data[:8] == b"II*\x00\x08\x00\x00\x00"
    assert [e[0] for e in _entries(data, 8)] == [0x0131, EXIF_IFD]
