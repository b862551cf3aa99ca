"""Reading raw files: the real samples of ../shared/data/raw, stubs for quirks, bad files."""

from __future__ import annotations

from fractions import Fraction
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from expodiff.errors import InputFileError
from expodiff.io.rawio import (
    RawFrame,
    RawMetadataWarning,
    _frame_from_libraw,
    format_exposure_time,
    frame_from_mosaic,
    rationalise_exposure_time,
    read_raw,
)
from expodiff.raw import XTRANS_CANONICAL, CFAPattern, pack
from expodiff.sensor import SensorSpec


# ----------------------------------------------------------------------- real files
@pytest.mark.data
def test_kodak_dc50(raw_dir):
    with pytest.warns(RawMetadataWarning, match="no colour matrix"):
        frame = read_raw(raw_dir / "RAW_KODAK_DC50.KDC")
    assert frame.cfa is CFAPattern.GRBG
    assert frame.sensor.black_level == (0, 0, 0, 0)
    assert frame.sensor.white_level == 16383
    assert frame.mosaic.shape == (512, 768) and frame.mosaic.dtype == np.uint16
    np.testing.assert_array_equal(frame.colour_matrix, np.eye(3))
    assert frame.white_balance == (1.0, 1.0, 1.0, 1.0)
    assert frame.make == "Eastman Kodak Company"
    assert frame.model == "Kodak Digital Science DC50 Zoom Camera"
    assert frame.exposure_time == Fraction(87, 20000)  # the exact EXIF rational
    assert frame.iso == 84
    assert frame.path == raw_dir / "RAW_KODAK_DC50.KDC"
    packed = frame.packed_dn()
    assert packed.shape == (4, 256, 384) and packed.dtype == torch.float32
    # Kodak's GRBG: R sits at (0, 1), so packed channel 0 is mosaic[0::2, 1::2].
    np.testing.assert_array_equal(packed[0].numpy(), frame.mosaic[0::2, 1::2])


@pytest.mark.data
def test_canon_d30_margins_levels_and_wb_quirk(raw_dir):
    frame = read_raw(raw_dir / "Canon_EOS_D30.CRW")
    assert frame.cfa is CFAPattern.RGGB
    assert frame.sensor.black_level == (127, 128, 128, 128)
    assert frame.sensor.white_level == 4095
    assert (frame.height, frame.width) == (1448, 2176)  # 2224x1456 minus the margins
    # camera_whitebalance[0] == -1: LibRaw's daylight balance (1.924, 0.915, 0.967), green 1.
    r, gr, b, gb = frame.white_balance
    assert gr == gb == 1.0
    assert r == pytest.approx(1.9241716 / 0.9152310, rel=1e-5)
    assert b == pytest.approx(0.9670889 / 0.9152310, rel=1e-5)
    assert (frame.make, frame.model) == ("Canon", "EOS D30")  # CRW has no EXIF: LibRaw's
    assert frame.iso == 100
    assert frame.exposure_time == 5  # LibRaw's 4.967 s, rationalised
    np.testing.assert_allclose(frame.colour_matrix.sum(axis=1), 1.0, atol=1e-9)
    assert frame.colour_matrix[0, 0] > 1.2  # a real matrix, not the identity
    norm = frame.packed_norm()
    assert norm.shape == (4, 724, 1088)
    assert -0.1 < float(norm.min()) and float(norm.max()) <= 1.0


@pytest.mark.data
def test_canon_mosaic_is_the_visible_area(raw_dir):
    import rawpy

    frame = read_raw(raw_dir / "Canon_EOS_D30.CRW")
    with rawpy.imread(str(raw_dir / "Canon_EOS_D30.CRW")) as raw:
        top, left = raw.sizes.top_margin, raw.sizes.left_margin
        expected = raw.raw_image[top : top + 1448, left : left + 2176]
        np.testing.assert_array_equal(frame.mosaic, expected)


@pytest.mark.data
def test_blackmagic_dng(raw_dir):
    frame = read_raw(raw_dir / "Blackmagic_PocketCinema4K.dng")
    assert frame.cfa is CFAPattern.RGGB
    assert frame.sensor.black_level == (512, 512, 512, 512)
    assert frame.sensor.white_level == 65535
    assert (frame.height, frame.width) == (2176, 4128)
    assert frame.iso is None and frame.exposure_time is None  # the file has neither tag
    assert frame.make == "Blackmagic"
    assert frame.white_balance[0] == pytest.approx(2.2060447, rel=1e-6)
    np.testing.assert_allclose(frame.colour_matrix.sum(axis=1), 1.0, atol=1e-6)
    assert frame.colour_matrix[0, 0] == pytest.approx(1.5885102, rel=1e-6)


@pytest.mark.data
def test_n900_png_mosaic(raw_dir):
    path = raw_dir / "halide_bayer_small_N900crop.png"
    frame = read_raw(path, cfa="GRBG", black_level=25, white_level=1023)
    assert frame.cfa is CFAPattern.GRBG
    assert frame.sensor.black_level == (25, 25, 25, 25)
    assert frame.sensor.white_level == 1023
    assert (frame.height, frame.width) == (344, 256)
    assert frame.make is None and frame.iso is None and frame.exposure_time is None
    assert frame.packed_norm().shape == (4, 172, 128)
    # Without a CFA it is refused with a hint, not decoded as garbage.
    with pytest.raises(InputFileError, match="PNG image.*CFA"):
        read_raw(path)
    # Default levels: 0 and the 16-bit maximum.
    assert read_raw(path, cfa=CFAPattern.GRBG).sensor.white_level == 65535


@pytest.mark.data
def test_scanner_nef_is_rejected(raw_dir):
    path = raw_dir / "NEGATIVE_Nikon_Coolscan_IV_scanner.nef"
    with pytest.raises(InputFileError, match="not a colour-filter-array sensor") as info:
        read_raw(path)
    assert str(info.value).startswith(str(path))


# ------------------------------------------------------------------------ bad files
def _one_line(exc: BaseException, path) -> str:
    text = str(exc)
    assert "\n" not in text
    assert text.startswith(str(path))
    return text


def test_missing_directory_empty(tmp_path):
    with pytest.raises(InputFileError, match="no such file") as info:
        read_raw(tmp_path / "nope.CR2")
    _one_line(info.value, tmp_path / "nope.CR2")
    with pytest.raises(InputFileError, match="is a directory"):
        read_raw(tmp_path)
    empty = tmp_path / "empty.NEF"
    empty.touch()
    with pytest.raises(InputFileError, match="empty file"):
        read_raw(empty)


def test_jpeg_and_garbage(tmp_path):
    from PIL import Image

    jpeg = tmp_path / "photo.jpg"
    Image.new("RGB", (32, 24), (200, 10, 10)).save(jpeg)
    with pytest.raises(InputFileError, match="a JPEG image, not a camera raw file") as info:
        read_raw(jpeg)
    _one_line(info.value, jpeg)
    garbage = tmp_path / "noise.ARW"
    garbage.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, np.uint8).tobytes())
    with pytest.raises(InputFileError, match="not a camera raw file"):
        read_raw(garbage)


@pytest.mark.data
@pytest.mark.parametrize("name", ["RAW_KODAK_DC50.KDC", "Canon_EOS_D30.CRW"], ids=["kdc", "crw"])
def test_truncated_and_corrupt(raw_dir, tmp_path, capfd, name):
    data = (raw_dir / name).read_bytes()
    truncated = tmp_path / f"truncated_{name}"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputFileError, match="truncated|corrupt|not a camera raw") as info:
        read_raw(truncated)
    _one_line(info.value, truncated)
    corrupt = tmp_path / f"corrupt_{name}"
    damaged = bytearray(data)
    middle = len(damaged) // 2
    noise = np.random.default_rng(1).integers(0, 256, 5000, np.uint8).tobytes()
    damaged[middle : middle + 5000] = noise
    corrupt.write_bytes(bytes(damaged))
    with pytest.raises(InputFileError, match="corrupt|truncated") as info:
        read_raw(corrupt)
    _one_line(info.value, corrupt)
    # LibRaw's own stderr chatter ("Unexpected end of file") is captured, not printed.
    assert capfd.readouterr().err == ""


def test_plain_image_mosaic_errors(tmp_path):
    from PIL import Image

    rgb = tmp_path / "rgb.png"
    Image.new("RGB", (8, 8)).save(rgb)
    with pytest.raises(InputFileError, match="not a single-channel mosaic"):
        read_raw(rgb, cfa="RGGB")
    bad_levels = tmp_path / "grey.png"
    Image.fromarray(np.full((8, 8), 100, np.uint16)).save(bad_levels)
    with pytest.raises(InputFileError, match="white_level"):
        read_raw(bad_levels, cfa="RGGB", black_level=600, white_level=500)
    with pytest.raises(ValueError, match="pass cfa"):
        read_raw(bad_levels, black_level=10)


# --------------------------------------------------------------- stubs for quirks
# Canon EOS D30 in dcraw's adobe_coeff table (x 1/10000): XYZ -> camera R, G, B.
D30_CAM_XYZ = np.array([[9900, -2771, -1324], [-7072, 14229, 3140], [-2790, 3344, 8861]]) / 1e4


def _stub(**overrides):
    """A stand-in for rawpy.RawPy with a 12x18 RGGB mosaic (LibRaw indices R0 G1 B2 G3)."""
    import rawpy

    pattern = np.array([[0, 1], [3, 2]])
    height, width, top, left = 12, 18, 2, 4
    base = dict(
        raw_type=rawpy.RawType.Flat,
        num_colors=3,
        color_desc=b"RGBG",
        raw_pattern=pattern,
        sizes=SimpleNamespace(top_margin=top, left_margin=left, height=height, width=width, flip=0),
        raw_image_visible=np.arange(height * width, dtype=np.uint16).reshape(height, width),
        black_level_per_channel=[10, 11, 12, 13],
        white_level=1000,
        camera_white_level_per_channel=None,
        camera_whitebalance=[2.0, 1.0, 1.5, 0.0],
        daylight_whitebalance=[1.8, 0.9, 1.2, 0.0],
        rgb_xyz_matrix=np.vstack([D30_CAM_XYZ, np.zeros((1, 3))]),
        color_matrix=np.zeros((3, 4)),
        other=SimpleNamespace(iso_speed=400.0, shutter_speed=0.0333),
    )
    base.update(overrides)
    if "raw_color" not in base:
        pat = base["raw_pattern"]
        period = 0 if pat is None else len(pat)
        base["raw_color"] = lambda y, x: int(pat[(y - top) % period][(x - left) % period])
    return SimpleNamespace(**base)


def test_stub_plane_mapping_and_metadata(tmp_path):
    frame = _frame_from_libraw(_stub(), tmp_path / "x.raw")
    assert frame.cfa is CFAPattern.RGGB
    assert frame.sensor.black_level == (10, 11, 12, 13)
    assert frame.white_balance == (2.0, 1.0, 1.5, 1.0)  # 4th green 0 -> equals the first
    assert frame.iso == 400 and frame.exposure_time == Fraction(1, 30)


def test_stub_bggr_maps_libraw_indices_to_planes(tmp_path):
    # BGGR: (0,0)=B idx 2, (0,1)=G idx 3 on the blue row (Gb), (1,0)=G idx 1 (Gr), (1,1)=R.
    stub = _stub(
        raw_pattern=np.array([[2, 3], [1, 0]]), camera_white_level_per_channel=[900, 950, 950, 950]
    )
    frame = _frame_from_libraw(stub, tmp_path / "x.raw")
    assert frame.cfa is CFAPattern.BGGR
    assert frame.sensor.black_level == (10, 11, 12, 13)
    assert frame.sensor.white_level == 900  # smallest per-channel camera white level


def test_stub_wb_minus_one_falls_back_to_daylight(tmp_path):
    stub = _stub(camera_whitebalance=[-1.0, 0.976, 1.007, 0.0])
    frame = _frame_from_libraw(stub, tmp_path / "x.raw")
    assert frame.white_balance == pytest.approx((2.0, 1.0, 1.2 / 0.9, 1.0))
    stub = _stub(camera_whitebalance=[0, 0, 0, 0], daylight_whitebalance=[0, 0, 0, 0])
    with pytest.warns(RawMetadataWarning, match="no white balance"):
        frame = _frame_from_libraw(stub, tmp_path / "x.raw")
    assert frame.white_balance == (1.0, 1.0, 1.0, 1.0)


def test_stub_colour_matrix_sources(tmp_path):
    frame = _frame_from_libraw(_stub(), tmp_path / "x.raw")
    np.testing.assert_allclose(frame.colour_matrix.sum(axis=1), 1.0, atol=1e-12)
    assert frame.colour_matrix[0, 0] > 1.2
    # A DNG's own matrix (LibRaw's color_matrix) wins for DNG files, as LibRaw does it.
    dng_matrix = np.array([[1.5, -0.3, -0.2, 0], [-0.2, 1.4, -0.2, 0], [0, -0.4, 1.4, 0]])
    frame = _frame_from_libraw(_stub(color_matrix=dng_matrix), tmp_path / "x.dng", is_dng=True)
    np.testing.assert_allclose(frame.colour_matrix, dng_matrix[:, :3])
    # Neither: identity, with a warning naming the file.
    stub = _stub(rgb_xyz_matrix=np.zeros((4, 3)))
    with pytest.warns(RawMetadataWarning, match="x.raw: the file has no colour matrix"):
        frame = _frame_from_libraw(stub, tmp_path / "x.raw")
    np.testing.assert_array_equal(frame.colour_matrix, np.eye(3))


def test_stub_xtrans_is_cropped_onto_the_canonical_phase(tmp_path):
    canonical = np.array(XTRANS_CANONICAL)
    dy, dx = 2, 5  # the file's top-left photosite sits at canonical (dy, dx) ... shifted:
    shifted = np.roll(np.roll(canonical, -dy, axis=0), -dx, axis=1)
    libraw_index = np.where(shifted == 1, 1, np.where(shifted == 0, 0, 2))
    h, w = 6 * 3 + 4, 6 * 4 + 1
    colours = np.tile(shifted, (h // 6 + 1, w // 6 + 1))[:h, :w]
    stub = _stub(
        raw_pattern=libraw_index,
        sizes=SimpleNamespace(top_margin=0, left_margin=0, height=h, width=w, flip=6),
        raw_image_visible=colours.astype(np.uint16) * 100 + 50,
        raw_color=lambda y, x: int(libraw_index[y % 6][x % 6]),
    )
    frame = _frame_from_libraw(stub, tmp_path / "x.raf")
    assert frame.cfa is CFAPattern.XTRANS
    assert frame.mosaic.shape[0] % 6 == 0 and frame.mosaic.shape[1] % 6 == 0
    # Every photosite now carries the colour the canonical layout says it has.
    tiled = np.tile(canonical, (frame.height // 6, frame.width // 6))
    np.testing.assert_array_equal(frame.mosaic, tiled * 100 + 50)
    assert frame.orientation == 6
    packed = frame.packed_dn()
    assert packed.shape == (9, frame.height // 3, frame.width // 3)
    assert torch.all(packed[0] == 50) and torch.all(packed[2] == 150)  # R, then G


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(raw_pattern=None), "monochrome"),
        (dict(color_desc=b"CMYG"), "unsupported colour filter array"),
        (dict(raw_pattern=np.arange(16).reshape(4, 4) % 4), "unsupported colour filter"),
    ],
)
def test_stub_unsupported_sensors(tmp_path, overrides, message):
    with pytest.raises(InputFileError, match=message):
        _frame_from_libraw(_stub(**overrides), tmp_path / "x.raw")


def test_stub_stack_raw_is_not_a_cfa(tmp_path):
    import rawpy

    with pytest.raises(InputFileError, match="not a colour-filter-array sensor"):
        _frame_from_libraw(_stub(raw_type=rawpy.RawType.Stack), tmp_path / "scan.nef")


# ------------------------------------------------------------------ exposure times
@pytest.mark.parametrize(
    "seconds, expected",
    [
        (4.96743106842041, Fraction(5)),  # the Canon D30's APEX-decoded 5 s
        (0.004350000061094761, Fraction(1, 230)),
        (0.0625, Fraction(1, 16)),
        (1 / 30, Fraction(1, 30)),
        (1.3, Fraction(13, 10)),
        (30.0, Fraction(30)),
        (0.0, None),
        (-1.0, None),
        (float("nan"), None),
    ],
)
def test_rationalise_exposure_time(seconds, expected):
    assert rationalise_exposure_time(seconds) == expected


def test_format_exposure_time():
    assert format_exposure_time(Fraction(5)) == "5 s"
    assert format_exposure_time(Fraction(1, 10)) == "1/10 s"
    assert format_exposure_time(Fraction(87, 20000)) == "87/20000 s (~1/230 s)"
    assert format_exposure_time(Fraction(13, 10)) == "13/10 s (~1.3 s)"
    assert format_exposure_time(None) == "unknown"


# ---------------------------------------------------------------- frame_from_mosaic
def test_frame_from_mosaic_crops_and_keeps_values():
    sensor = SensorSpec((64, 64, 64, 64), 1023, CFAPattern.GBRG)
    mosaic = np.random.default_rng(0).integers(64, 1024, (9, 13))
    frame = frame_from_mosaic(
        mosaic, sensor, white_balance=(2, 1, 1.5, 1), iso=800, exposure_time=Fraction(1, 100)
    )
    assert frame.mosaic.shape == (8, 12) and frame.mosaic.dtype == np.uint16
    np.testing.assert_array_equal(frame.mosaic, mosaic[:8, :12])
    expected = (pack(torch.from_numpy(mosaic[:8, :12]).float(), CFAPattern.GBRG) - 64) / 959
    assert torch.allclose(frame.packed_norm(), expected)
    # float input stays float32; torch input works too
    as_float = frame_from_mosaic(torch.full((4, 6), 100.5), sensor)
    assert as_float.mosaic.dtype == np.float32 and float(as_float.mosaic[0, 0]) == 100.5
    with pytest.raises(ValueError, match="0..65535"):
        frame_from_mosaic(np.full((4, 4), 70000), sensor)


def test_raw_frame_is_immutable_and_validated():
    sensor = SensorSpec.uniform(0, 255)
    source = np.zeros((4, 4), np.uint16)
    frame = frame_from_mosaic(source, sensor)
    assert not frame.mosaic.flags.writeable
    assert source.flags.writeable  # the caller's array is left alone
    with pytest.raises(ValueError, match="assignment destination is read-only"):
        frame.mosaic[0, 0] = 1
    with pytest.raises(ValueError, match="multiple of the CFA period"):
        RawFrame(np.zeros((3, 4), np.uint16), sensor)
    with pytest.raises(ValueError, match="white_balance"):
        RawFrame(np.zeros((4, 4), np.uint16), sensor, white_balance=(1, 0, 1, 1))
    with pytest.raises(ValueError, match="colour_matrix"):
        RawFrame(np.zeros((4, 4), np.uint16), sensor, colour_matrix=np.eye(4))


def _dng_with_exposure_tag(path, kind: str):
    """A small DNG whose ExposureTime tag is patched to ``kind``: 1/0, 0/1 or -1/1234 (the
    tag retyped as a signed rational)."""
    import struct

    from expodiff.io.dng import write_frame_dng

    rng = np.random.default_rng(0)
    mosaic = (64 + rng.random((32, 48)) * 200).astype(np.uint16)
    sensor = SensorSpec.uniform(64, 4095, CFAPattern.RGGB)
    frame = frame_from_mosaic(mosaic, sensor, iso=800, exposure_time=Fraction(1, 1234))
    data = bytearray(write_frame_dng(path, frame).read_bytes())
    value = struct.pack("<II", 1, 1234)
    at = data.find(value)
    assert at > 0 and data.find(value, at + 1) < 0
    if kind == "1/0":
        data[at : at + 8] = struct.pack("<II", 1, 0)
    elif kind == "0":
        data[at : at + 8] = struct.pack("<II", 0, 1)
    else:
        entry = data.find(struct.pack("<HHI", 0x829A, 5, 1))
        assert entry > 0
        data[entry + 2 : entry + 4] = struct.pack("<H", 10)  # SRATIONAL
        data[at : at + 8] = struct.pack("<ii", -1, 1234)
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("kind", ["1/0", "0", "-1/1234"])
def test_an_impossible_exposure_time_is_unknown_not_one_second(tmp_path, capsys, kind):
    from expodiff.cli import main

    path = _dng_with_exposure_tag(tmp_path / "t.dng", kind)
    with pytest.warns(RawMetadataWarning, match=f"exposure time {kind} is not a positive time"):
        frame = read_raw(path)
    assert frame.exposure_time is None and frame.iso == 800  # LibRaw would say 1 s for 1/0
    assert main(["info", str(path)]) == 0
    out, err = capsys.readouterr()
    assert "exposure time: unknown" in out and "treated as unknown" in err
    # where the time is required: a one-line error after the warning
    code = main(["enhance", str(path), "-o", str(tmp_path / "e.png"), "--target-exposure", "1"])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.splitlines()[-1].startswith("expodiff: error: ")
    assert "--target-exposure needs the input's exposure time" in err
    assert err.count("\n") == 2 and "Traceback" not in err
