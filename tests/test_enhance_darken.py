"""``expodiff darken`` and :func:`expodiff.inference.darken.darken_frame`."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import torch

from expodiff.cli import main
from expodiff.errors import ExpodiffError
from expodiff.inference.darken import crop_frame, darken_frame
from expodiff.inference.gain._cameras import match_profile
from expodiff.io.profiles import load_profile
from expodiff.io.rawio import read_raw

CROP = (512, 320, 256, 192)


@pytest.fixture(scope="module")
def canon(raw_dir):
    return read_raw(raw_dir / "Canon_EOS_D30.CRW")


@pytest.mark.data
def test_darkened_frame_statistics_and_metadata(canon):
    sony = load_profile("SonyA7S2")
    dark = darken_frame(
        canon,
        ratio=100,
        profile=sony,
        iso=3200,
        crop=CROP,
        generator=torch.Generator().manual_seed(0),
    )
    clean = crop_frame(canon, CROP).packed_norm().clamp(0, 1)
    assert (dark.width, dark.height) == (256, 192) and dark.mosaic.dtype == np.uint16
    assert dark.sensor.black_level == (800.0,) * 4 and dark.sensor.white_level == 16383.0
    assert dark.cfa is canon.cfa and dark.white_balance == canon.white_balance
    assert match_profile(dark.make, dark.model) == "SonyA7S2"
    assert dark.iso == 3200 and dark.exposure_time == Fraction(5, 100)
    short = dark.packed_norm()
    # mean: clean / r plus the profile's colour bias at ISO 3200 (about 2 DN)
    bias = short.mean() * 15583 - clean.mean() * 15583 / 100
    assert 0.5 < float(bias) < 4.0
    # variance: shot noise K * signal plus read noise, in DN
    k = sony.system_gain_at_iso(3200)
    residual = (short - clean / 100) * 15583
    assert float(residual.var()) > k * float(clean.mean()) * 15583 / 100
    # reproducible
    again = darken_frame(
        canon,
        ratio=100,
        profile=sony,
        iso=3200,
        crop=CROP,
        generator=torch.Generator().manual_seed(0),
    )
    assert np.array_equal(again.mosaic, dark.mosaic)
    # a K instead of an ISO gives that K's ISO
    by_gain = darken_frame(canon, ratio=10, profile=sony, system_gain=k, crop=CROP)
    assert by_gain.iso == 3200


@pytest.mark.data
def test_darken_errors(canon):
    sony = load_profile("SonyA7S2")
    for kwargs, match in [
        ({"ratio": 0.5, "iso": 100}, "ratio must be a number >= 1"),
        ({"ratio": 10}, "exactly one of the ISO and the system gain"),
        ({"ratio": 10, "iso": 100, "system_gain": 1.0}, "exactly one"),
        ({"ratio": 10, "system_gain": -1.0}, "system gain must be a positive number"),
        ({"ratio": 10, "iso": 100, "crop": (1, 0, 64, 64)}, "multiples of 2"),
        ({"ratio": 10, "iso": 100, "crop": (0, 0, 4000, 64)}, "does not fit"),
    ]:
        with pytest.raises(ExpodiffError, match=match):
            darken_frame(canon, profile=sony, **kwargs)


@pytest.mark.data
def test_darken_cli(raw_dir, tmp_path, capsys):
    def argv(out, camera="NikonD850", *extra):
        return [
            "darken", str(raw_dir / "Canon_EOS_D30.CRW"), "-o", str(out), "--ratio", "50",
            "--camera", camera, "--iso", "1600", "--crop", *map(str, CROP), *extra,
        ]  # fmt: skip

    out = tmp_path / "dark.dng"
    assert main(argv(out)) == 0
    assert "NIKON D850 at ISO 1600" in capsys.readouterr().out
    frame = read_raw(out)
    assert (frame.width, frame.height, frame.iso) == (256, 192, 1600)
    assert frame.exposure_time == Fraction(1, 10)
    assert main(argv(out)) == 2  # exists
    assert "already exists" in capsys.readouterr().err
    assert main(argv(tmp_path / "x.png")) == 2
    assert "unknown output extension" in capsys.readouterr().err
    assert main(argv(out, "Nope", "--overwrite")) == 2
    assert "unknown camera profile 'Nope'" in capsys.readouterr().err


@pytest.mark.data
def test_iso_beyond_the_16_bit_tag_is_kept(raw_dir, model_dir, tmp_path, capsys):
    """ISO 102400 does not fit EXIF's 16-bit ISO tag: the DNG holds 65535 there and the true
    ISO in ISOSpeed (SensitivityType 3), as EXIF 2.3 says, and enhance takes K at 102400."""
    import exifread

    out = tmp_path / "dark.dng"
    argv = [
        "darken", str(raw_dir / "Canon_EOS_D30.CRW"), "-o", str(out), "--ratio", "50",
        "--camera", "SonyA7S2", "--iso", "102400", "--crop", *map(str, CROP),
    ]  # fmt: skip
    assert main(argv) == 0
    assert "at ISO 102400" in capsys.readouterr().out
    assert read_raw(out).iso == 102400
    with open(out, "rb") as fh:
        tags = exifread.process_file(fh, details=False)
    by_id = {t.tag: t.values[0] for t in tags.values() if hasattr(t, "tag") and t.values}
    assert (by_id[0x8827], by_id[0x8830], by_id[0x8833]) == (65535, 3, 102400)
    code = main(["enhance", str(out), "-o", str(tmp_path / "e.png"), "--model", str(model_dir),
                 "--steps", "1", "--ratio", "50"])  # fmt: skip
    text = capsys.readouterr().out
    k = load_profile("SonyA7S2").system_gain_at_iso(102400)
    assert code == 0 and f"K {k:.3g} DN/e (profile SonyA7S2 at ISO 102400)" in text


@pytest.mark.parametrize("camera", ["NikonD850", "SonyA7S2", "CanonEOS70D"])
def test_a_dngs_white_level_is_its_own_tag(camera, tmp_path):
    """LibRaw fills a per-channel white level from its table of the camera a DNG's Make/Model
    name (15311 for a "NIKON D850" DNG whose WhiteLevel says 16383); the reader keeps the
    tag, so a darkened DNG and an enhanced DNG read back on the levels they were written with."""
    from expodiff.cfa import CFAPattern
    from expodiff.io.dng import write_frame_dng
    from expodiff.io.frame import frame_from_mosaic
    from expodiff.sensor import SensorSpec

    profile = load_profile(camera)
    sensor = SensorSpec.uniform(profile.black_level, profile.white_level, CFAPattern.RGGB)
    g = np.random.default_rng(0)
    mosaic = g.integers(profile.black_level, profile.white_level, (64, 64)).astype(np.uint16)
    clean = frame_from_mosaic(mosaic, sensor, make="expodiff", model="test", iso=100.0)
    dark = darken_frame(
        clean, ratio=50.0, profile=profile, iso=800, generator=torch.Generator().manual_seed(0)
    )
    path = tmp_path / "dark.dng"
    write_frame_dng(path, dark)
    back = read_raw(path)
    assert back.sensor.white_level == float(profile.white_level)
    assert back.sensor.black_level == dark.sensor.black_level
    np.testing.assert_array_equal(back.mosaic, dark.mosaic)
