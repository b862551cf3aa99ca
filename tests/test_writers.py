"""PNG/TIFF writers and the DNG writer (read back through LibRaw)."""

from __future__ import annotations

import os
import zlib
from fractions import Fraction

import numpy as np
import pytest
import torch

from expodiff.errors import OutputFileError
from expodiff.io.dng import write_dng, write_frame_dng
from expodiff.io.rawio import frame_from_mosaic, read_raw
from expodiff.io.writers import encode_png16, quantise, write_image
from expodiff.raw import CFAPattern
from expodiff.sensor import SensorSpec

MATRIX = np.array([[1.6, -0.4, -0.2], [-0.3, 1.5, -0.2], [0.1, -0.5, 1.4]])


def _image(h=10, w=14, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).random((h, w, 3)).astype(np.float32)


def _decode_png16(data: bytes) -> np.ndarray:
    """Minimal decoder of a 16-bit RGB PNG (all five scanline filters), for the round trip."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        crc = int.from_bytes(data[pos + 8 + length : pos + 12 + length], "big")
        assert zlib.crc32(kind + body) == crc, kind
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    w, h = int.from_bytes(header[:4], "big"), int.from_bytes(header[4:8], "big")
    assert header[8:10] == bytes([16, 2])
    raw = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(h, 1 + w * 6)
    out = np.zeros((h, w * 6), np.int32)
    bpp = 6
    for y in range(h):
        kind, line = raw[y, 0], raw[y, 1:].astype(np.int32)
        prev = out[y - 1] if y else np.zeros(w * 6, np.int32)
        for x in range(w * 6):
            a = out[y, x - bpp] if x >= bpp else 0
            b, c = prev[x], (prev[x - bpp] if x >= bpp else 0)
            if kind == 0:
                pred = 0
            elif kind == 1:
                pred = a
            elif kind == 2:
                pred = b
            elif kind == 3:
                pred = (a + b) // 2
            else:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            out[y, x] = (line[x] + pred) & 0xFF
    return out.astype(np.uint8).reshape(h, w, 3, 2).view(">u2")[..., 0].astype(np.uint16)


# ---------------------------------------------------------------------- PNG / TIFF
def test_png8_round_trip(tmp_path):
    from PIL import Image

    image = _image()
    path = write_image(tmp_path / "a.png", image)
    with Image.open(path) as pil:
        assert pil.mode == "RGB"
        np.testing.assert_array_equal(np.asarray(pil), quantise(image, 8))


def test_png16_round_trip(tmp_path):
    from PIL import Image

    image = _image()
    path = write_image(tmp_path / "a.png", image, bits=16)
    expected = quantise(image, 16)
    np.testing.assert_array_equal(_decode_png16(path.read_bytes()), expected)
    with Image.open(path) as pil:  # Pillow reads 16-bit RGB as its high bytes
        pil.load()
        np.testing.assert_array_equal(np.asarray(pil), (expected >> 8).astype(np.uint8))


@pytest.mark.parametrize("bits", [8, 16])
def test_tiff_round_trip(tmp_path, bits):
    import tifffile

    image = _image()
    path = write_image(tmp_path / "a.tif", image, bits=bits)
    back = tifffile.imread(path)
    assert back.dtype == (np.uint8 if bits == 8 else np.uint16)
    np.testing.assert_array_equal(back, quantise(image, bits))
    assert tifffile.imread(write_image(tmp_path / "b.tiff", image)).dtype == np.uint16


@pytest.mark.parametrize("bits", [8, 16])
def test_tiff_of_several_strips_reads_back_in_tifffile_and_pillow(tmp_path, bits):
    """An image over 1 MB is written in several strips; libtiff-style readers and Pillow
    read the same pixels (a baseline, uncompressed RGB TIFF)."""
    import tifffile
    from PIL import Image

    image = _image(h=700, w=640, seed=1)  # 16-bit: 3840 bytes a row, 273 rows a strip
    path = write_image(tmp_path / "big.tif", image, bits=bits)
    expected = quantise(image, bits)
    with tifffile.TiffFile(path) as tif:
        page = tif.pages.first
        assert len(page.dataoffsets) == (3 if bits == 16 else 2)
        assert page.compression == 1 and page.photometric == 2
        np.testing.assert_array_equal(page.asarray(), expected)
    with Image.open(path) as pil:
        pil.load()
        if bits == 8:
            np.testing.assert_array_equal(np.asarray(pil), expected)
        else:  # Pillow opens 16-bit RGB TIFFs as 8-bit: its high bytes
            assert pil.size == (640, 700)


def test_quantise_rounds_and_clips():
    values = np.array([[[-0.5, 0.0, 0.5], [1.0, 2.0, 1 / 255 * 0.49]]])
    np.testing.assert_array_equal(quantise(values, 8), [[[0, 0, 128], [255, 255, 0]]])
    assert quantise(values, 16)[0, 0, 2] == 32768
    with pytest.raises(ValueError, match="NaN"):
        quantise(np.full((1, 1, 3), np.nan), 8)
    with pytest.raises(ValueError, match="bits"):
        quantise(values, 12)
    with pytest.raises(ValueError, match=r"expected \(H, W, 3\) uint16, got \(2, 2, 3\) uint8"):
        encode_png16(np.zeros((2, 2, 3), np.uint8))


def test_writer_refusals_leave_nothing(tmp_path):
    existing = tmp_path / "keep.png"
    existing.write_bytes(b"precious")
    with pytest.raises(OutputFileError, match="already exists"):
        write_image(existing, _image())
    assert existing.read_bytes() == b"precious"
    write_image(existing, _image(), overwrite=True)
    assert existing.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(OutputFileError, match="unknown output extension '.jpg'"):
        write_image(tmp_path / "a.jpg", _image())
    with pytest.raises(OutputFileError, match="does not exist"):
        write_image(tmp_path / "no" / "a.png", _image())
    with pytest.raises(OutputFileError, match="keep.png is a file, not a folder"):
        write_image(existing / "a.png", _image())
    with pytest.raises(ValueError, match="NaN"):
        write_image(tmp_path / "nan.png", np.full((2, 2, 3), np.nan))
    with pytest.raises(ValueError, match="shape"):
        write_image(tmp_path / "grey.png", np.zeros((2, 2)))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.png"]


def test_written_files_get_the_usual_permissions(tmp_path):
    mask = os.umask(0o022)
    try:
        path = write_image(tmp_path / "a.png", _image())
    finally:
        os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o644


# ------------------------------------------------------------------------------ DNG
def _metadata(**changes):
    meta = dict(
        white_balance=(2.0, 1.0, 1.5, 1.0),
        colour_matrix=MATRIX,
        make="SONY",
        model="ILCE-7SM2",
        iso=3200,
        exposure_time=Fraction(1, 30),
        orientation=6,
    )
    meta.update(changes)
    return meta


@pytest.mark.parametrize("cfa", list(CFAPattern), ids=lambda c: c.value)
@pytest.mark.parametrize("bits", [10, 12, 16])
def test_dng_round_trip_synthetic(tmp_path, cfa, bits):
    import rawpy

    top = 2**bits - 1
    blacks = (60, 61, 62, 63) if cfa.is_bayer else (60, 60, 60, 60)
    sensor = SensorSpec(blacks, top, cfa)
    mosaic = np.random.default_rng(bits).integers(0, top + 1, (24, 36)).astype(np.uint16)
    path = write_dng(tmp_path / "x.dng", mosaic, sensor, bits=bits, **_metadata())

    frame = read_raw(path)
    np.testing.assert_array_equal(frame.mosaic, mosaic)
    assert frame.cfa is cfa
    assert frame.sensor.black_level == blacks
    assert frame.sensor.white_level == top
    assert frame.white_balance == pytest.approx((2.0, 1.0, 1.5, 1.0), rel=1e-6)
    np.testing.assert_allclose(frame.colour_matrix, MATRIX, atol=1e-4)
    assert (frame.make, frame.model) == ("SONY", "ILCE-7SM2")
    assert frame.iso == 3200
    assert frame.exposure_time == Fraction(1, 30)
    assert frame.orientation == 6
    with rawpy.imread(str(path)) as raw:  # LibRaw sees a CFA raw of that layout
        assert raw.raw_type == rawpy.RawType.Flat
        assert raw.raw_pattern.shape == ((6, 6) if cfa is CFAPattern.XTRANS else (2, 2))
        assert raw.sizes.flip == 6


@pytest.mark.parametrize("bits", [10, 12, 16])
def test_dng_of_several_strips_round_trip(tmp_path, bits):
    """A mosaic over 1 MB (as stored) is written in several strips; LibRaw reads it back
    bit for bit, the packed 10 and 12 bits included."""
    import tifffile

    top = 2**bits - 1
    mosaic = np.random.default_rng(bits).integers(0, top + 1, (1400, 1024)).astype(np.uint16)
    path = write_dng(tmp_path / "big.dng", mosaic, SensorSpec.uniform(0, top), bits=bits)
    with tifffile.TiffFile(path) as tif:
        # rows of 1280, 1536 or 2048 bytes; strips of 819, 682 or 512 rows
        assert len(tif.pages.first.dataoffsets) == {10: 2, 12: 3, 16: 3}[bits]
    np.testing.assert_array_equal(read_raw(path).mosaic, mosaic)


def test_dng_without_optional_metadata(tmp_path):
    sensor = SensorSpec.uniform(0, 1023, CFAPattern.GRBG)
    path = write_dng(tmp_path / "bare.dng", np.full((22, 24), 512, np.uint16), sensor)
    frame = read_raw(path)
    assert frame.iso is None and frame.exposure_time is None
    assert frame.make == "expodiff"  # LibRaw names it after UniqueCameraModel
    np.testing.assert_allclose(frame.colour_matrix, np.eye(3), atol=1e-4)


def test_dng_float_and_torch_input_are_rounded_and_clipped(tmp_path):
    sensor = SensorSpec.uniform(64, 4095)
    mosaic = torch.tensor([[10.4, 10.6], [-3.0, 70000.0]]).repeat(12, 12)
    frame = read_raw(write_dng(tmp_path / "f.dng", mosaic, sensor, bits=16))
    np.testing.assert_array_equal(frame.mosaic[:2, :2], [[10, 11], [0, 65535]])


def test_dng_refusals(tmp_path):
    sensor = SensorSpec.uniform(64, 4095)
    mosaic = np.zeros((24, 24), np.uint16)
    with pytest.raises(OutputFileError, match="unknown output extension"):
        write_dng(tmp_path / "x.tif", mosaic, sensor)
    with pytest.raises(ValueError, match="bits"):
        write_dng(tmp_path / "x.dng", mosaic, sensor, bits=14)
    with pytest.raises(ValueError, match="does not fit"):
        write_dng(tmp_path / "x.dng", mosaic, sensor, bits=10)
    with pytest.raises(ValueError, match="multiple of the CFA period"):
        write_dng(tmp_path / "x.dng", np.zeros((23, 24), np.uint16), sensor)
    with pytest.raises(ValueError, match="LibRaw"):
        write_dng(tmp_path / "x.dng", np.zeros((8, 24), np.uint16), sensor)
    xtrans = SensorSpec((60, 61, 62, 61), 4095, CFAPattern.XTRANS)
    with pytest.raises(ValueError, match="one black level"):
        write_dng(tmp_path / "x.dng", np.zeros((24, 24), np.uint16), xtrans)
    (tmp_path / "old.dng").write_bytes(b"x")
    with pytest.raises(OutputFileError, match="already exists"):
        write_dng(tmp_path / "old.dng", mosaic, sensor)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.dng"]


@pytest.mark.data
@pytest.mark.parametrize("name", ["RAW_KODAK_DC50.KDC", "Canon_EOS_D30.CRW"])
def test_dng_round_trip_real_file(raw_dir, tmp_path, name):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the Kodak has no colour matrix
        source = read_raw(raw_dir / name)
        copy = read_raw(write_frame_dng(tmp_path / "copy.dng", source))
    np.testing.assert_array_equal(copy.mosaic, source.mosaic)
    assert copy.sensor == source.sensor
    assert copy.white_balance == pytest.approx(source.white_balance, rel=1e-6)
    np.testing.assert_allclose(copy.colour_matrix, source.colour_matrix, atol=1e-4)
    assert (copy.make, copy.model, copy.iso, copy.exposure_time) == (
        source.make,
        source.model,
        source.iso,
        source.exposure_time,
    )


def test_dng_of_a_frame_from_mosaic(tmp_path):
    sensor = SensorSpec((25, 25, 25, 25), 1023, CFAPattern.GBRG)
    mosaic = np.random.default_rng(3).integers(25, 1024, (22, 36))
    frame = frame_from_mosaic(
        mosaic,
        sensor,
        white_balance=(1.9, 1, 1.4, 1),
        iso=100,
        exposure_time=Fraction(10),
        make="Acme",
        model="One",
    )
    back = read_raw(write_frame_dng(tmp_path / "m.dng", frame, bits=10))
    np.testing.assert_array_equal(back.mosaic, frame.mosaic)
    assert back.exposure_time == 10 and back.iso == 100 and back.cfa is CFAPattern.GBRG
