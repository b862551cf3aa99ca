"""``expodiff info`` and ``expodiff develop`` end to end, and every bad input of issue 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cli_helpers import (
    BAD_INPUTS,
    assert_bad_input_refused,
    assert_one_line_error,
    bad_input_files,
    run_cli,
)
from expodiff.cli import main

INFO_KEYS = [
    "make",
    "model",
    "cfa",
    "black_level",
    "white_level",
    "iso",
    "exposure_time",
    "width",
    "height",
]


# --------------------------------------------------------------------------- info
@pytest.mark.data
def test_info_json_canon(raw_dir, capsys):
    code, out, err = run_cli(capsys, "info", raw_dir / "Canon_EOS_D30.CRW", "--json")
    assert code == 0 and err == ""
    info = json.loads(out)
    assert list(info) == INFO_KEYS
    assert info == {
        "make": "Canon",
        "model": "EOS D30",
        "cfa": "RGGB",
        "black_level": [127, 128, 128, 128],
        "white_level": 4095,
        "iso": 100,
        "exposure_time": 5.0,
        "width": 2176,
        "height": 1448,
    }


@pytest.mark.data
def test_info_text_kodak_warns_once_on_stderr(raw_dir, capsys):
    code, out, err = run_cli(capsys, "info", raw_dir / "RAW_KODAK_DC50.KDC")
    assert code == 0
    assert "GRBG" in out and "87/20000 s (~1/230 s)" in out and "768 x 512" in out
    assert err.count("\n") == 1 and err.startswith("expodiff: warning: ")


@pytest.mark.data
def test_info_n900_mosaic(raw_dir, capsys):
    png = raw_dir / "halide_bayer_small_N900crop.png"
    code, out, _ = run_cli(
        capsys,
        "info",
        png,
        "--cfa",
        "grbg",
        "--black-level",
        "25",
        "--white-level",
        "1023",
        "--json",
    )
    assert code == 0
    info = json.loads(out)
    assert (info["cfa"], info["black_level"], info["white_level"]) == ("GRBG", [25] * 4, 1023)
    assert (info["width"], info["height"], info["exposure_time"]) == (256, 344, None)


@pytest.mark.data
def test_info_option_errors(raw_dir, capsys):
    kodak = raw_dir / "RAW_KODAK_DC50.KDC"
    code, _, err = run_cli(capsys, "info", kodak, "--black-level", "3")
    assert code == 2 and "need --cfa" in err
    png = raw_dir / "halide_bayer_small_N900crop.png"
    code, _, err = run_cli(capsys, "info", png, "--cfa", "RGGB", "--black-level", "1", "2")
    assert code == 2 and "1 or 4 values" in err
    with pytest.raises(SystemExit, match="^2$"):
        main(["info", str(png), "--cfa", "CYGM"])


@pytest.mark.parametrize("command", ["info", "develop"])
def test_help(command, capsys):
    with pytest.raises(SystemExit, match="^0$") as info:
        main([command, "--help"])
    assert info.value.code == 0
    assert f"usage: expodiff {command}" in capsys.readouterr().out


# ------------------------------------------------------------------------- develop
@pytest.mark.data
@pytest.mark.parametrize(
    "name, extra, bits",
    [
        ("k.png", [], 8),  # the fast tier's case (make test-fast)
        pytest.param("k16.png", ["--bits", "16"], 16, marks=pytest.mark.slow),
        pytest.param("k.tif", [], 16, marks=pytest.mark.slow),
        pytest.param("k8.tiff", ["--bits", "8"], 8, marks=pytest.mark.slow),
    ],
)
def test_develop_images(raw_dir, tmp_path, capsys, name, extra, bits):
    import tifffile
    from PIL import Image

    out_path = tmp_path / name
    code, out, _ = run_cli(
        capsys, "develop", raw_dir / "RAW_KODAK_DC50.KDC", "-o", out_path, *extra
    )
    assert code == 0
    assert out.strip() == f"wrote {out_path} (768 x 512 sRGB, {bits}-bit " + (
        "PNG)" if name.endswith(".png") else "TIFF)"
    )
    if name.endswith(".png"):
        with Image.open(out_path) as image:
            assert image.size == (768, 512) and image.mode == "RGB"
            pixels = np.asarray(image)
    else:
        pixels = tifffile.imread(out_path)
        assert pixels.dtype == (np.uint8 if bits == 8 else np.uint16)
    assert pixels.shape == (512, 768, 3)
    assert (
        0.2 < pixels.mean() / (2**bits - 1 if not name.endswith(".png") or bits == 8 else 255) < 0.7
    )


@pytest.mark.data
@pytest.mark.slow
def test_develop_exposure_gain_brightens(raw_dir, tmp_path, capsys):
    from PIL import Image

    src = raw_dir / "RAW_KODAK_DC50.KDC"
    run_cli(capsys, "develop", src, "-o", tmp_path / "a.png", "--demosaic", "bilinear")
    run_cli(capsys, "develop", src, "-o", tmp_path / "b.png", "--exposure-gain", "0.25")
    with Image.open(tmp_path / "a.png") as a, Image.open(tmp_path / "b.png") as b:
        assert np.asarray(b).mean() < np.asarray(a).mean() - 20


@pytest.mark.data
@pytest.mark.slow
def test_develop_dng(raw_dir, tmp_path, capsys):
    from expodiff.io.rawio import read_raw

    src = raw_dir / "Canon_EOS_D30.CRW"
    code, out, _ = run_cli(capsys, "develop", src, "-o", tmp_path / "c.dng")
    assert code == 0 and "16-bit DNG" in out
    source, copy = read_raw(src), read_raw(tmp_path / "c.dng")
    np.testing.assert_array_equal(copy.mosaic, source.mosaic)
    assert copy.exposure_time == 5 and copy.iso == 100
    # --exposure-gain scales the signal above black, clipped at white.
    code, _, _ = run_cli(capsys, "develop", src, "-o", tmp_path / "g.dng", "--exposure-gain", "2")
    bright = read_raw(tmp_path / "g.dng").packed_norm()
    expected = (source.packed_norm() * 2).clamp(max=1.0)
    above_black = source.packed_norm() >= 0  # below black, DN 0 is as low as a DNG goes
    assert float((bright - expected)[above_black].abs().max()) < 1e-3
    code, _, err = run_cli(capsys, "develop", src, "-o", tmp_path / "x.dng", "--bits", "8")
    assert code == 2 and "--bits is for PNG/TIFF" in err


# ------------------------------------------------------------------- bad inputs (§7)
@pytest.mark.data
@pytest.mark.parametrize("case", BAD_INPUTS)
@pytest.mark.parametrize("command", ["info", "develop"])
def test_bad_input_files(raw_dir, tmp_path, capsys, case, command):
    inputs = tmp_path / "in"
    inputs.mkdir()
    path, problem = bad_input_files(inputs, raw_dir)[case]
    outputs = tmp_path / "out"
    outputs.mkdir()
    argv = ["info", path] if command == "info" else ["develop", path, "-o", outputs / "x.png"]
    assert_bad_input_refused(capsys, argv, path, problem, outputs)


@pytest.mark.data
def test_bad_outputs_fail_before_decoding(raw_dir, tmp_path, capsys, monkeypatch):
    src = raw_dir / "RAW_KODAK_DC50.KDC"
    # unknown extension
    code, out, err = run_cli(capsys, "develop", src, "-o", tmp_path / "x.jpg")
    assert_one_line_error(code, out, err, "x.jpg")
    assert "unknown output extension '.jpg'" in err
    # missing output folder
    code, out, err = run_cli(capsys, "develop", src, "-o", tmp_path / "nope" / "x.png")
    assert_one_line_error(code, out, err, "x.png")
    assert "does not exist" in err
    # existing output without --overwrite: untouched
    existing = tmp_path / "old.png"
    existing.write_bytes(b"old")
    code, out, err = run_cli(capsys, "develop", src, "-o", existing)
    assert_one_line_error(code, out, err, "old.png")
    assert "already exists" in err and existing.read_bytes() == b"old"
    assert run_cli(capsys, "develop", src, "-o", existing, "--overwrite")[0] == 0
    assert existing.read_bytes()[:4] == b"\x89PNG"
    # the output is checked before the input is decoded: a bad input is not even reported
    code, out, err = run_cli(capsys, "develop", tmp_path / "missing.CR2", "-o", tmp_path / "y.gif")
    assert code != 0 and "y.gif" in err and "missing.CR2" not in err

    # unwritable output folder (root ignores permission bits, so also fake os.access)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.geteuid() == 0:
            import expodiff.io.atomic as atomic

            real_access = os.access
            monkeypatch.setattr(
                atomic.os,
                "access",
                lambda p, mode: False if Path(p) == locked else real_access(p, mode),
            )
        code, out, err = run_cli(capsys, "develop", src, "-o", locked / "x.png")
        assert_one_line_error(code, out, err, "x.png")
        assert "not writable" in err
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o700)
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == ["locked", "old.png"]


@pytest.mark.data
@pytest.mark.slow
def test_process_level_error_is_one_line(raw_dir, tmp_path):
    """In a real process LibRaw's own stderr messages must not leak past the one line."""
    data = (raw_dir / "RAW_KODAK_DC50.KDC").read_bytes()
    truncated = tmp_path / "cut.KDC"
    truncated.write_bytes(data[: len(data) // 3])
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "expodiff",
            "develop",
            str(truncated),
            "-o",
            str(tmp_path / "x.png"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"expodiff: error: {truncated}: ")
    assert not (tmp_path / "x.png").exists()
