"""Issue 13: inputs are never lost, cut-off or hostile files fail in one line, bad API arrays
and configs are named, ``--debug`` works after the subcommand."""

from __future__ import annotations

import os
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch

from cli_helpers import assert_one_line_error, run_cli
from expodiff.cli import main
from expodiff.config import load_config
from expodiff.errors import ConfigError, ExpodiffError, InputFileError
from expodiff.inference.api import enhance
from expodiff.io.completeness import check_raw_data_complete, tiff_data_end
from expodiff.io.rawio import read_raw

BLACKMAGIC = "Blackmagic_PocketCinema4K.dng"


@pytest.fixture
def small_dng(tmp_path) -> Path:
    """A small real DNG (the bundled demo sample)."""
    from expodiff.paths import project_root

    path = tmp_path / "shot.dng"
    shutil.copy(project_root() / "examples" / "canon_d30_x100_iso6400.dng", path)
    return path


# ----------------------------------------------------------------- an input is never the output
def _same_file_outputs(source: Path) -> list[Path]:
    """The input itself, a symbolic link to it and a hard link to it."""
    link = source.with_name("link" + source.suffix)
    link.symlink_to(source)
    hard = source.with_name("hard" + source.suffix)
    os.link(source, hard)
    return [source, link, hard]


@pytest.mark.parametrize("command", ["develop", "darken"])
def test_develop_and_darken_never_replace_their_input(small_dng, capsys, command):
    original = small_dng.read_bytes()
    extra = ["--ratio", "10", "--camera", "SonyA7S2", "--iso", "800"] if command == "darken" else []
    for out in _same_file_outputs(small_dng):
        for overwrite in ([], ["--overwrite"]):
            code, stdout, err = run_cli(capsys, command, small_dng, "-o", out, *extra, *overwrite)
            assert_one_line_error(code, stdout, err, str(out))
            assert "is the input file" in err
            assert "--overwrite" not in err  # never point the user at destroying the input
    assert small_dng.read_bytes() == original


# --------------------------------------------------------------------------- cut-off files
def _tiff_with_strips(path: Path, rows: int = 64, cols: int = 48) -> bytes:
    import tifffile

    data = np.arange(rows * cols, dtype=np.uint16).reshape(rows, cols)
    tifffile.imwrite(path, data, rowsperstrip=8, compression=None)
    return path.read_bytes()


def test_tiff_data_end_is_where_the_last_strip_ends(tmp_path):
    full = _tiff_with_strips(tmp_path / "a.tif")
    end = tiff_data_end(tmp_path / "a.tif")
    assert end is not None and end <= len(full)
    # The data (64 x 48 x 2 bytes) lies wholly before that end.
    assert end >= 64 * 48 * 2
    check_raw_data_complete(tmp_path / "a.tif")
    for cut in (len(full) // 2, end - 1, 200):
        (tmp_path / "cut.tif").write_bytes(full[:cut])
        with pytest.raises(InputFileError, match=r"cut\.tif: truncated: the file has"):
            check_raw_data_complete(tmp_path / "cut.tif")


def test_tiff_data_end_ignores_other_formats(tmp_path):
    (tmp_path / "x.raw").write_bytes(b"\x00\x01" * 100)
    assert tiff_data_end(tmp_path / "x.raw") is None
    (tmp_path / "tiny").write_bytes(b"II")
    assert tiff_data_end(tmp_path / "tiny") is None


@pytest.mark.data
def test_complete_raw_files_pass_the_check(raw_dir):
    for path in sorted(raw_dir.iterdir()):
        check_raw_data_complete(path)  # the real files of five cameras are whole


@pytest.mark.data
@pytest.mark.parametrize("keep", [10_000, 1_000_000, 3_000_000])
def test_a_cut_dng_is_refused_by_info_and_develop(raw_dir, tmp_path, capsys, keep):
    cut = tmp_path / "cut.dng"
    cut.write_bytes((raw_dir / BLACKMAGIC).read_bytes()[:keep])
    for argv in (["info", cut], ["develop", cut, "-o", tmp_path / "out.png"]):
        code, out, err = run_cli(capsys, *argv)
        assert_one_line_error(code, out, err, str(cut))
        assert "truncated" in err
    assert not (tmp_path / "out.png").exists()


@pytest.mark.data
@pytest.mark.slow
def test_a_cut_file_in_a_folder_fails_the_run_and_is_retried(
    raw_dir, small_dng, model_dir, tmp_path, capsys
):
    """A folder run with a cut file writes the good ones, exits non-zero, and a re-run tries
    the cut file again (it never counts as done)."""
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(small_dng, folder / "good.dng")
    (folder / "cut.dng").write_bytes((raw_dir / BLACKMAGIC).read_bytes()[:10_000])
    out = tmp_path / "out"
    argv = ["enhance", folder, "-o", out, "--model", model_dir, "--ratio", "10", "--tile", "0"]
    code, _, err = run_cli(capsys, *argv)
    assert code != 0
    assert "cut.dng" in err and "truncated" in err and "Traceback" not in err
    assert sorted(p.name for p in out.iterdir()) == ["good.png"]
    code, _, err = run_cli(capsys, *argv)
    assert code != 0 and "cut.dng" in err  # tried again, failed again: not skipped as done


# ----------------------------------------------------------------- hostile stored mosaics
def _png_claiming(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 16, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("suffix", [".png", ".pgm"])
@pytest.mark.parametrize("command", ["info", "develop", "enhance"])
def test_a_mosaic_image_claiming_ten_gigapixels_is_one_line(tmp_path, capsys, suffix, command):
    bomb = tmp_path / f"bomb{suffix}"
    if suffix == ".png":
        bomb.write_bytes(_png_claiming(100_000, 100_000))
    else:
        bomb.write_bytes(b"P5\n100000 100000\n65535\n" + bytes(1000))
    out = ["-o", tmp_path / "out.png"] if command != "info" else []
    extra = ["--ratio", "10"] if command == "enhance" else []
    code, stdout, err = run_cli(capsys, command, bomb, *out, "--cfa", "RGGB", *extra)
    assert_one_line_error(code, stdout, err, str(bomb))
    assert "too large to read safely" in err
    assert not (tmp_path / "out.png").exists()


def test_a_float_tiff_mosaic_names_its_type(tmp_path, capsys):
    import tifffile

    path = tmp_path / "float.tif"
    tifffile.imwrite(path, np.random.default_rng(0).random((16, 16), dtype=np.float32))
    code, out, err = run_cli(capsys, "info", path, "--cfa", "RGGB")
    assert_one_line_error(code, out, err, str(path))
    assert "a 32-bit floating-point image, not a single-channel mosaic" in err
    with pytest.raises(InputFileError, match="32-bit floating-point"):
        read_raw(path, cfa="RGGB")


# ------------------------------------------------------------------------------ configs
def test_a_binary_config_is_one_line(tmp_path, capsys):
    binary = tmp_path / "model.safetensors"
    binary.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(ConfigError, match=r"model\.safetensors: not a text file"):
        load_config(binary)
    code, out, err = run_cli(capsys, "show-config", "--config", binary)
    assert_one_line_error(code, out, err, "model.safetensors")


def test_an_empty_config_is_refused_but_an_empty_mapping_means_defaults(tmp_path):
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing here yet\n")
    with pytest.raises(ConfigError, match=r"empty\.yaml: the config is empty"):
        load_config(empty)
    defaults = tmp_path / "defaults.yaml"
    defaults.write_text("{}\n")
    assert load_config(defaults) == load_config(None)


@pytest.mark.parametrize("option", ["--max-images", "--steps"])
def test_evaluate_counts_must_be_positive(capsys, option):
    with pytest.raises(SystemExit, match="^2$") as exited:
        main(["evaluate", "--baseline", "scaled", option, "0"])
    out, err = capsys.readouterr()
    assert exited.value.code == 2 and out == ""
    assert err.count("\n") == 1 and option in err and "must be >= 1, got 0" in err


# ------------------------------------------------------------------------ API input arrays
@pytest.mark.parametrize(
    ("array", "match"),
    [
        (np.zeros((4, 0, 0), np.float32), r"array: empty \(shape \(4, 0, 0\)\)"),
        (np.zeros((0, 8), np.uint16), r"array: empty"),
        (np.full((4, 8, 8), 800, np.uint16), r"floating-point raw_norm .* got uint16"),
        (torch.full((4, 8, 8), 800, dtype=torch.int32), r"got torch\.int32"),
        (np.full((4, 8, 8), 812.5, np.float32), r"values from 812\.5 to 812\.5 are not raw_norm"),
        (np.full((4, 8, 8), -3.0, np.float32), r"values from -3 to -3 are not raw_norm"),
    ],
)
def test_enhance_refuses_arrays_that_are_not_raw_norm(array, match):
    with pytest.raises(ExpodiffError, match=match):
        enhance(array, ratio=10)


def test_enhance_accepts_raw_norm_with_noise_below_black(model_dir):
    packed = torch.full((4, 16, 16), 0.01)
    packed[0, 0, 0] = -0.02  # read noise around black is negative in raw_norm
    result = enhance(packed, ratio=10, model=model_dir, system_gain=1.0, seed=0)
    assert result.raw_norm.shape == (4, 16, 16)


# -------------------------------------------------------------------------------- --debug
def test_debug_works_after_the_subcommand(tmp_path, capsys):
    missing = tmp_path / "missing.dng"
    code, out, err = run_cli(capsys, "info", missing)
    assert_one_line_error(code, out, err, str(missing))
    for argv in (["--debug", "info", missing], ["info", missing, "--debug"]):
        with pytest.raises(InputFileError, match="no such file"):
            main([str(a) for a in argv])
