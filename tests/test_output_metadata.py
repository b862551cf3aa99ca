"""Outputs a photographer's tools expect (issue 13): PNG/TIFF/DNG carry the source's EXIF and
colour-space tags, and the source's default crop (a Blackmagic DNG's dark last columns)."""

from __future__ import annotations

import struct
import zlib
from fractions import Fraction
from pathlib import Path

import exifread
import numpy as np
import pytest
import rawpy
import tifffile
from PIL import Image, ImageCms

from cli_helpers import run_cli
from enhance_helpers import save_tiny_model
from expodiff.io.dng import write_dng
from expodiff.io.isp import orient
from expodiff.io.metadata import PhotoMetadata, photo_metadata, read_exif, read_photo_tags
from expodiff.io.rawio import read_raw
from expodiff.io.writers import crop_for_display, srgb_icc_profile, write_image
from expodiff.sensor import SensorSpec

KODAK = "RAW_KODAK_DC50.KDC"
BLACKMAGIC = "Blackmagic_PocketCinema4K.dng"
EXIF_IFD = 0x8769
# What the Kodak DC50 file's TIFF/EP tags hold.
KODAK_EXIF = {
    "make": "Eastman Kodak Company",
    "model": "Kodak Digital Science DC50 Zoom Camera",
    "date": "1997:04:23 08:00:47",
    "exposure": Fraction(87, 20000),
    "f_number": Fraction(31, 5),
    "iso": 84,
    "focal_length": Fraction(37),
}


def png_chunks(path: Path) -> dict[bytes, bytes]:
    """The chunks of a PNG file (type -> data; the last one of a type), CRCs checked."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, pos, order = {}, 8, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + body)
        chunks[kind] = body
        order.append(kind)
        pos += 12 + length
    assert order.index(b"sRGB") < order.index(b"IDAT")
    if b"eXIf" in chunks:
        assert order.index(b"eXIf") < order.index(b"IDAT")
    return chunks


def assert_exif(path: Path, expected: dict) -> None:
    """Pillow reads the EXIF of a PNG/TIFF output back with the expected values."""
    with Image.open(path) as image:
        exif = image.getexif()
        sub = exif.get_ifd(EXIF_IFD)
    assert exif[0x010F] == expected["make"] and exif[0x0110] == expected["model"]
    assert exif[0x0112] == 1  # the pixels are already rotated for display
    assert exif[0x0131] == "expodiff"
    assert sub[0xA001] == 1  # ColorSpace sRGB
    assert Fraction(sub[0x829A]).limit_denominator(10**6) == expected["exposure"]
    assert sub[0x8827] == expected["iso"]
    if "date" in expected:
        assert exif[0x0132] == expected["date"] and sub[0x9003] == expected["date"]
    if "f_number" in expected:
        assert Fraction(sub[0x829D]).limit_denominator(1000) == expected["f_number"]
        assert Fraction(sub[0x920A]).limit_denominator(1000) == expected["focal_length"]
    if "description" in expected:
        assert expected["description"] in exif[0x010E]


def dng_tags(path: Path) -> dict:
    """exifread's tags of a DNG output, after checking the photographic ones sit in the EXIF
    IFD (where EXIF and Adobe's DNG Converter place them), not in IFD 0."""
    with open(path, "rb") as fh:
        tags = exifread.process_file(fh, details=False)
    for name in ("ExposureTime", "FNumber", "ISOSpeedRatings", "DateTimeOriginal", "FocalLength"):
        assert f"Image {name}" not in tags
    assert str(tags["EXIF ExifVersion"]) == "0232"
    assert str(tags["Image Software"]) == "expodiff"
    return tags


def assert_srgb_icc(path: Path) -> None:
    with tifffile.TiffFile(path) as tif:
        icc = tif.pages.first.tags["InterColorProfile"].value
    profile = ImageCms.ImageCmsProfile(__import__("io").BytesIO(icc))
    assert "sRGB" in ImageCms.getProfileDescription(profile)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_crop_for_display_follows_the_orientation(orientation):
    raw = np.arange(6 * 10 * 3).reshape(6, 10, 3)
    meta = PhotoMetadata(default_crop=(2, 1, 5, 3), raw_size=(6, 10), raw_orientation=orientation)
    shown = crop_for_display(orient(raw, orientation), meta)
    assert np.array_equal(shown, orient(raw[1:4, 2:7], orientation))
    assert crop_for_display(raw, None) is raw
    with pytest.raises(ValueError, match="oriented raw size"):
        crop_for_display(raw[:5], meta)


@pytest.mark.parametrize(
    ("name", "bits"), [("o.png", 8), ("o.png", 16), ("o.tif", 8), ("o.tif", 16)]
)
def test_write_image_tags(tmp_path, name, bits):
    meta = PhotoMetadata(
        make="Canon",
        model="Canon EOS 70D",
        iso=3200,
        exposure_time=Fraction(5),
        datetime_original="2024:12:31 23:59:58",
        f_number=Fraction(28, 10),
        focal_length=Fraction(50),
        lens_model="EF50mm f/1.8 STM",
        description="expodiff enhance: 100x brighter",
    )
    image = np.random.default_rng(0).random((24, 32, 3))
    out = write_image(tmp_path / name, image, bits=bits, metadata=meta)
    expected = {"make": "Canon", "model": "Canon EOS 70D", "exposure": Fraction(5), "iso": 3200}
    expected |= {"date": "2024:12:31 23:59:58", "f_number": Fraction(14, 5)}
    expected |= {"focal_length": Fraction(50), "description": "100x brighter"}
    assert_exif(out, expected)
    with Image.open(out) as back:
        assert back.getexif().get_ifd(EXIF_IFD)[0xA434] == "EF50mm f/1.8 STM"
    if name.endswith(".png"):
        assert png_chunks(out)[b"sRGB"] == b"\x00"
    else:
        assert_srgb_icc(out)
        assert tifffile.imread(out).dtype == (np.uint8 if bits == 8 else np.uint16)
    # without metadata: no EXIF, still tagged sRGB
    plain = write_image(tmp_path / f"plain{Path(name).suffix}", image, bits=bits)
    if name.endswith(".png"):
        assert b"eXIf" not in png_chunks(plain)
    else:
        assert_srgb_icc(plain)
        with tifffile.TiffFile(plain) as tif:
            assert "ExifTag" not in tif.pages.first.tags


@pytest.mark.parametrize(
    ("name", "bits"), [("o.png", 8), ("o.png", 16), ("o.tif", 8), ("o.tif", 16), ("o.dng", 16)]
)
def test_our_reader_reads_every_output_kind(tmp_path, name, bits):
    """io.metadata (what `expodiff info` and the next run's auto ratio use) reads back what
    each output kind records, a lens name beyond ASCII included (stored as UTF-8)."""
    meta = PhotoMetadata(
        make="FUJIFILM",
        model="X-T3",
        iso=640,
        exposure_time=Fraction(1, 3),
        datetime_original="2023:11:30 18:45:12",
        f_number=Fraction(7, 5),
        focal_length=Fraction(23),
        lens_model="XF23mm F1.4 R – Zeiss-Ü",
        description="expodiff enhance: 8x brighter",
    )
    if name.endswith(".dng"):
        mosaic = np.full((24, 24), 900, np.uint16)
        out = write_dng(
            tmp_path / name, mosaic, SensorSpec.uniform(800, 16383), make=meta.make,
            model=meta.model, iso=meta.iso, exposure_time=meta.exposure_time, metadata=meta,
        )  # fmt: skip
    else:
        out = write_image(tmp_path / name, np.zeros((8, 6, 3)), bits=bits, metadata=meta)
    tags = read_photo_tags(out)
    assert (tags.datetime_original, tags.f_number, tags.focal_length, tags.lens_model) == (
        meta.datetime_original, meta.f_number, meta.focal_length, meta.lens_model,
    )  # fmt: skip
    exif = read_exif(out)
    assert (exif.make, exif.model, exif.iso) == ("FUJIFILM", "X-T3", 640)
    assert exif.exposure_time == Fraction(1, 3)
    assert exif.is_dng == name.endswith(".dng")


def test_srgb_profile_is_available():
    assert srgb_icc_profile() is not None  # Pillow here has LittleCMS


@pytest.mark.data
@pytest.mark.parametrize(
    ("name", "extra"),
    [
        ("k.png", []),  # the fast tier's case (make test-fast)
        pytest.param("k16.png", ["--bits", "16"], marks=pytest.mark.slow),
        pytest.param("k.tif", [], marks=pytest.mark.slow),
        pytest.param("k8.tif", ["--bits", "8"], marks=pytest.mark.slow),
    ],
)
def test_develop_carries_the_source_exif(raw_dir, tmp_path, capsys, name, extra):
    out = tmp_path / name
    code, _, err = run_cli(capsys, "develop", raw_dir / KODAK, "-o", out, *extra)
    assert code == 0, err
    assert_exif(out, KODAK_EXIF)
    if name.endswith(".png"):
        assert png_chunks(out)[b"sRGB"] == b"\x00"
    else:
        assert_srgb_icc(out)


@pytest.mark.data
def test_develop_dng_keeps_exif(raw_dir, tmp_path, capsys):
    out = tmp_path / "k.dng"
    code, _, err = run_cli(capsys, "develop", raw_dir / KODAK, "-o", out)
    assert code == 0, err
    tags = dng_tags(out)
    assert str(tags["EXIF DateTimeOriginal"]) == KODAK_EXIF["date"]
    assert str(tags["Image DateTime"]) == KODAK_EXIF["date"]
    assert str(tags["EXIF FNumber"]) == "31/5" and str(tags["EXIF FocalLength"]) == "37"
    assert str(tags["EXIF ExposureTime"]) == "87/20000"
    assert str(tags["EXIF ISOSpeedRatings"]) == "84"
    assert str(tags["Image Make"]) == KODAK_EXIF["make"]
    frame = read_raw(out)
    assert (frame.iso, frame.exposure_time) == (84, Fraction(87, 20000))


def _crop_source(folder: Path, orientation: int = 6) -> Path:
    """A 96 x 64 DNG with a date, lens data, a default crop that leaves out dark last columns
    (like the Blackmagic file) and a rotated orientation."""
    g = np.random.default_rng(1)
    mosaic = 800 + g.uniform(20, 60, (64, 96))
    mosaic[:, -8:] = 3  # below black: what the crop leaves out
    meta = PhotoMetadata(
        datetime_original="2025:06:07 21:30:00",
        f_number=Fraction(4),
        focal_length=Fraction(35),
        default_crop=(4, 2, 84, 60),
    )
    return write_dng(
        folder / "night.dng",
        np.rint(mosaic),
        SensorSpec.uniform(800, 16383),
        make="SONY",
        model="ILCE-7SM2",
        iso=3200,
        exposure_time=Fraction(1, 20),
        orientation=orientation,
        metadata=meta,
    )


@pytest.mark.data
def test_read_photo_tags_of_the_blackmagic_dng(raw_dir):
    tags = read_photo_tags(raw_dir / BLACKMAGIC)
    assert tags.default_crop == (16, 8, 4096, 2160)
    meta = photo_metadata(read_raw(raw_dir / BLACKMAGIC))
    assert meta.default_crop == (16, 8, 4096, 2160) and meta.raw_size == (2176, 4128)
    assert read_photo_tags(raw_dir / "Canon_EOS_D30.CRW").default_crop is None


@pytest.mark.parametrize("fmt", ["png", "tif", "dng"])
def test_enhance_outputs_carry_exif_and_crop(tmp_path, capsys, fmt):
    source = _crop_source(tmp_path)
    model = save_tiny_model(tmp_path / "model")
    out = tmp_path / f"out.{fmt}"
    code, _, err = run_cli(
        capsys, "enhance", source, "-o", out, "--model", model, "--ratio", "100"
    )  # fmt: skip
    assert code == 0, err
    expected = {"make": "SONY", "model": "ILCE-7SM2", "iso": 3200, "exposure": Fraction(5)}
    expected |= {"date": "2025:06:07 21:30:00", "f_number": Fraction(4)}
    expected |= {"focal_length": Fraction(35), "description": "100x brighter"}
    if fmt == "dng":  # the raw keeps its orientation, and the crop as DNG tags
        with rawpy.imread(str(out)) as raw:
            sizes = raw.sizes
        assert (sizes.crop_left_margin, sizes.crop_top_margin) == (4, 2)
        assert (sizes.crop_width, sizes.crop_height) == (84, 60)
        tags = dng_tags(out)
        assert str(tags["EXIF DateTimeOriginal"]) == expected["date"]
        assert str(tags["EXIF FNumber"]) == "4" and str(tags["EXIF FocalLength"]) == "35"
        assert str(tags["EXIF ExposureTime"]) == "5" and str(tags["EXIF ISOSpeedRatings"]) == "3200"
        assert "100x brighter" in str(tags["Image ImageDescription"])
        frame = read_raw(out)
        assert (frame.orientation, frame.exposure_time, frame.iso) == (6, Fraction(5), 3200)
        return
    assert_exif(out, expected)
    with Image.open(out) as image:  # rotated (orientation 6: 90 degrees), then cropped
        assert image.size == (60, 84)


@pytest.mark.data
@pytest.mark.slow
def test_blackmagic_enhanced_to_dng_keeps_its_default_crop(raw_dir, tmp_path, capsys):
    """The Blackmagic DNG's last 4 columns hold ~3 DN (black is 512); its DefaultCrop leaves
    them out. The enhanced DNG keeps the crop, so raw editors do not show a black stripe."""
    source = read_raw(raw_dir / BLACKMAGIC)
    dark = np.asarray(source.mosaic[:, -4:], dtype=float).mean()
    assert dark < 10 < source.sensor.black_level[0]
    model = save_tiny_model(tmp_path / "model")
    out = tmp_path / "bm.dng"
    code, _, err = run_cli(
        capsys, "enhance", raw_dir / BLACKMAGIC, "-o", out, "--model", model, "--ratio", "2",
        "--steps", "1",
    )  # fmt: skip
    assert code == 0, err
    with rawpy.imread(str(out)) as raw:
        sizes = raw.sizes
    assert (sizes.crop_left_margin, sizes.crop_top_margin) == (16, 8)
    assert (sizes.crop_width, sizes.crop_height) == (4096, 2160)
    assert 16 + 4096 <= 4128 - 4  # the dark columns are outside the crop


@pytest.mark.data
@pytest.mark.slow
def test_develop_png_of_the_blackmagic_dng_is_cropped(raw_dir, tmp_path, capsys):
    out = tmp_path / "bm.png"
    code, stdout, err = run_cli(capsys, "develop", raw_dir / BLACKMAGIC, "-o", out)
    assert code == 0, err
    assert "4096 x 2160" in stdout
    with Image.open(out) as image:
        pixels = np.asarray(image, dtype=float)
    assert pixels.shape == (2160, 4096, 3)
    # no black stripe: the last columns are as bright as the image around them
    assert pixels[:, -4:].mean() > 0.5 * pixels[:, -64:-4].mean() > 0
