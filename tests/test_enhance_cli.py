"""``expodiff enhance`` end to end on real raw files: formats, folders, samples, bad inputs."""

from __future__ import annotations

import shutil
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch

from cli_helpers import (
    BAD_INPUTS,
    assert_bad_input_refused,
    assert_one_line_error,
    bad_input_files,
    run_cli,
)
from expodiff.cli import main
from expodiff.inference.darken import darken_frame
from expodiff.inference.model_loading import default_model_path
from expodiff.io.dng import write_frame_dng
from expodiff.io.profiles import load_profile
from expodiff.io.rawio import read_raw
from expodiff.paths import project_root

CROP = (512, 320, 256, 192)
# The bundled demo sample (scripts/make_demo.py): this crop of the Canon D30, x100, Sony A7S2
# ISO 6400 noise.
DEMO_SAMPLE = "canon_d30_x100_iso6400.dng"
DEMO_CROP = (1152, 160, 1024, 704)
pytestmark = pytest.mark.data


@pytest.fixture(scope="module")
def dark_dng(raw_dir, tmp_path_factory) -> Path:
    """A 256 x 192 crop of the Canon D30's 5 s exposure, 100x darker with the Sony A7S2's
    ELD noise at ISO 3200 (what `expodiff darken` writes)."""
    frame = darken_frame(
        read_raw(raw_dir / "Canon_EOS_D30.CRW"),
        ratio=100,
        profile=load_profile("SonyA7S2"),
        iso=3200,
        crop=CROP,
        generator=torch.Generator().manual_seed(0),
    )
    return write_frame_dng(tmp_path_factory.mktemp("in") / "tree.dng", frame)


@pytest.mark.parametrize(
    ("name", "extra", "check"),
    [("out.png", [], "png8"),  # the fast tier's case (make test-fast)
     pytest.param("out.png", ["--bits", "16"], "png16", marks=pytest.mark.slow),
     pytest.param("out.tif", [], "tif16", marks=pytest.mark.slow),
     pytest.param("out.dng", [], "dng", marks=pytest.mark.slow)],
)  # fmt: skip
def test_output_formats(dark_dng, model_dir, tmp_path, capsys, name, extra, check):
    from PIL import Image

    out = tmp_path / name
    code, stdout, err = run_cli(
        capsys, "enhance", dark_dng, "-o", out, "--model", model_dir, "--ratio", "100", *extra
    )
    assert code == 0, err
    assert (
        f"{dark_dng} -> {out}: ratio 100 (user), K 3.01 DN/e (profile SonyA7S2 at ISO 3200)"
        in stdout
    )
    assert "3 steps, 1 sample" in stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # no temporary files left
    if check == "png8":
        with Image.open(out) as image:
            assert (image.mode, image.size) == ("RGB", (256, 192))
    elif check == "png16":
        header = out.read_bytes()[16:26]  # IHDR: width, height, bit depth, colour type
        assert header == (256).to_bytes(4, "big") + (192).to_bytes(4, "big") + bytes([16, 2])
    elif check == "tif16":
        import tifffile

        pixels = tifffile.imread(out)
        assert pixels.shape == (192, 256, 3) and pixels.dtype == np.uint16
    else:  # the enhanced raw, read back through rawpy
        source, enhanced = read_raw(dark_dng), read_raw(out)
        assert (enhanced.width, enhanced.height, enhanced.cfa) == (256, 192, source.cfa)
        assert enhanced.sensor.black_level == source.sensor.black_level
        assert enhanced.sensor.white_level == source.sensor.white_level
        assert np.allclose(enhanced.white_balance, source.white_balance, rtol=1e-4)
        assert np.allclose(enhanced.colour_matrix, source.colour_matrix, atol=1e-3)
        assert (enhanced.make, enhanced.model, enhanced.iso) == ("SONY", "ILCE-7SM2", 3200)
        assert enhanced.exposure_time == Fraction(5)  # 1/20 s x 100
        brighter = float(enhanced.packed_norm().mean()) / float(source.packed_norm().mean())
        assert 10 < brighter < 1000


def test_auto_ratio_from_exif_and_brightness(dark_dng, model_dir, tmp_path, capsys):
    code, out, _ = run_cli(
        capsys, "enhance", dark_dng, "-o", tmp_path / "a.png", "--model", model_dir,
        "--target-exposure", "5",
    )  # fmt: skip
    assert code == 0 and "ratio 100 (exif)" in out
    code, out, _ = run_cli(
        capsys, "enhance", dark_dng, "-o", tmp_path / "b.png", "--model", model_dir
    )
    assert code == 0 and "(brightness)" in out


@pytest.mark.slow
def test_real_camera_files(raw_dir, model_dir, tmp_path, capsys):
    # The Kodak DC50 (no colour matrix, no noise profile): warnings, not errors.
    code, out, err = run_cli(
        capsys, "enhance", raw_dir / "RAW_KODAK_DC50.KDC", "-o", tmp_path / "k.png",
        "--model", model_dir, "--ratio", "20",
    )  # fmt: skip
    assert code == 0 and "ratio 20 (user)" in out and "K " in out
    assert "no colour matrix" in err and "no calibrated noise profile" in err
    # The Nokia N900 mosaic stored as a 16-bit PNG.
    code, out, err = run_cli(
        capsys, "enhance", raw_dir / "halide_bayer_small_N900crop.png", "-o",
        tmp_path / "n.tif", "--model", model_dir, "--ratio", "4", "--cfa", "GRBG",
        "--black-level", "25", "--white-level", "1023",
    )  # fmt: skip
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k.png", "n.tif"]


def test_samples_write_an_uncertainty_map(dark_dng, model_dir, tmp_path, capsys):
    from PIL import Image

    out = tmp_path / "tree.png"
    code, stdout, _ = run_cli(
        capsys, "enhance", dark_dng, "-o", out, "--model", model_dir, "--samples", "3",
        "--ratio", "100",
    )  # fmt: skip
    assert code == 0 and "3 samples" in stdout and "tree.uncertainty.png" in stdout
    with Image.open(tmp_path / "tree.uncertainty.png") as image:
        assert image.size == (256, 192) and image.mode == "RGB"
        assert "standard deviation over 3 samples" in image.text["Description"]
        assert np.asarray(image).std() > 0


@pytest.mark.slow
def test_folder_run_skips_finished_outputs_and_survives_interruption(
    dark_dng, model_dir, raw_dir, tmp_path, capsys, monkeypatch
):
    import expodiff.inference.api as api

    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in ("a.dng", "b.dng", "c.dng"):
        shutil.copy(dark_dng, inputs / name)
    (inputs / "notes.txt").write_text("not a raw file: ignored in a folder")
    out = tmp_path / "out"
    real = api.enhance
    calls = []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(api, "enhance", interrupted)
    argv = ["enhance", inputs, "-o", out, "--model", model_dir, "--ratio", "100"]
    code, _, err = run_cli(capsys, *argv)
    assert code == 130 and "interrupted" in err
    assert sorted(p.name for p in out.iterdir()) == ["a.png"]  # finished, no partial files
    finished = (out / "a.png").read_bytes()
    monkeypatch.setattr(api, "enhance", real)
    code, stdout, _ = run_cli(capsys, *argv)
    assert code == 0 and "a.png: exists, skipped" in stdout
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png", "c.png"]
    assert (out / "a.png").read_bytes() == finished
    code, stdout, _ = run_cli(capsys, *argv)
    assert code == 0 and "nothing to do: all 3 outputs exist" in stdout
    code, stdout, _ = run_cli(capsys, *argv, "--overwrite", "--format", "tif")
    assert code == 0 and len(list(out.glob("*.tif"))) == 3


def test_an_output_is_never_the_input(dark_dng, model_dir, tmp_path, capsys):
    folder = tmp_path / "raws"
    folder.mkdir()
    source = folder / "shot.dng"
    shutil.copy(dark_dng, source)
    original = source.read_bytes()
    for argv in (
        [source, "-o", source, "--overwrite"],
        [folder, "-o", folder, "--format", "dng"],
        [folder, "-o", folder, "--format", "dng", "--overwrite"],
    ):
        code, out, err = run_cli(capsys, "enhance", *argv, "--model", model_dir)
        assert_one_line_error(code, out, err, "shot.dng")
        assert "is the input file" in err
    assert source.read_bytes() == original


def _no_work(monkeypatch):
    """Make any enhancement fail the test: the checks must come before any work."""
    import expodiff.inference.api as api

    def enhance(*_args, **_kwargs):
        raise AssertionError("enhance ran although the outputs were refused")

    monkeypatch.setattr(api, "enhance", enhance)


def test_the_uncertainty_map_never_replaces_a_file(
    dark_dng, model_dir, raw_dir, tmp_path, capsys, monkeypatch
):
    """An existing file where a map would go is refused before any work, like the main
    output; an input never, even with --overwrite; two outputs of a run never share a path."""
    argv = ["--model", model_dir, "--samples", "2", "--ratio", "100"]
    # a previous output (or any file) named like the map, single output and folder run
    single = tmp_path / "one" / "tree.png"
    folder = tmp_path / "folder"
    for out, source in ((single, dark_dng), (folder, dark_dng.parent)):
        kept = (out.parent if out.suffix else out) / "tree.uncertainty.png"
        kept.parent.mkdir(parents=True)
        kept.write_bytes(b"a previous result")
        with monkeypatch.context() as m:
            _no_work(m)
            code, stdout, err = run_cli(capsys, "enhance", source, "-o", out, *argv)
        assert_one_line_error(code, stdout, err, str(kept))
        assert "already exists" in err and "--overwrite" in err
        assert kept.read_bytes() == b"a previous result"
        assert sorted(p.name for p in kept.parent.iterdir()) == ["tree.uncertainty.png"]
        code, _, err = run_cli(capsys, "enhance", source, "-o", out, *argv, "--overwrite")
        assert code == 0, err
        assert kept.read_bytes()[:4] == b"\x89PNG"  # replaced when asked to
    # another input of the same run: tree.uncertainty.dng's output is tree.dng's map
    inputs = tmp_path / "in"
    inputs.mkdir()
    shutil.copy(dark_dng, inputs / "tree.dng")
    shutil.copy(dark_dng, inputs / "tree.uncertainty.dng")
    for extra in ([], ["--overwrite"]):
        with monkeypatch.context() as m:
            _no_work(m)
            code, stdout, err = run_cli(
                capsys, "enhance", inputs, "-o", tmp_path / "out2", *argv, *extra
            )
        assert_one_line_error(code, stdout, err, "tree.uncertainty.png")
        assert "would be written there" in err
    assert not (tmp_path / "out2").exists()
    # the input itself named like the map: a stored mosaic shot.uncertainty.png
    mosaic = tmp_path / "mosaic"
    mosaic.mkdir()
    source = mosaic / "shot.uncertainty.png"
    shutil.copy(raw_dir / "halide_bayer_small_N900crop.png", source)
    original = source.read_bytes()
    for extra in ([], ["--overwrite"]):
        with monkeypatch.context() as m:
            _no_work(m)
            code, stdout, err = run_cli(
                capsys, "enhance", source, "-o", mosaic / "shot.png", "--cfa", "GRBG",
                "--black-level", "25", "--white-level", "1023", *argv, *extra,
            )  # fmt: skip
        assert_one_line_error(code, stdout, err, "shot.uncertainty.png")
        assert "is the input file" in err and "--overwrite" not in err
    assert source.read_bytes() == original


@pytest.mark.slow
def test_an_interrupted_samples_run_leaves_no_map_and_a_rerun_finishes_it(
    dark_dng, model_dir, tmp_path, capsys, monkeypatch
):
    """The map is written before the main output; a job interrupted in between removes it,
    so the re-run is not blocked by a map of the failed attempt."""
    import expodiff.inference.pipeline as pipeline

    def interrupted(*_args, **_kwargs):
        raise KeyboardInterrupt

    for out in (tmp_path / "tree.png", tmp_path / "folder"):
        source = dark_dng if out.suffix else dark_dng.parent
        argv = ["enhance", source, "-o", out, "--model", model_dir, "--samples", "2",
                "--ratio", "100"]  # fmt: skip
        with monkeypatch.context() as m:
            m.setattr(pipeline, "write_result", interrupted)
            code, _, err = run_cli(capsys, *argv)
        assert code == 130 and "interrupted" in err
        assert not list(tmp_path.glob("**/*.png"))  # no map, no main output, no temp file
        code, stdout, err = run_cli(capsys, *argv)
        assert code == 0, err
        written = out if out.suffix else out / "tree.png"
        assert written.is_file() and written.with_name("tree.uncertainty.png").is_file()
        for p in written.parent.glob("tree*.png"):
            p.unlink()


def test_folder_runs_skip_hidden_files(dark_dng, model_dir, tmp_path, capsys):
    """macOS's ._NAME companions and the temporary files of an interrupted write are not
    inputs: a folder run reads neither (they would fail every later run of the folder)."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    shutil.copy(dark_dng, inputs / "IMG_1.dng")
    (inputs / "._IMG_1.dng").write_bytes(b"\x00\x05\x16\x07" + bytes(4092))  # AppleDouble
    (inputs / ".IMG_2.k3j9x1.tmp.dng").write_bytes(dark_dng.read_bytes()[:5000])  # cut off
    out = tmp_path / "out"
    code, stdout, err = run_cli(
        capsys, "enhance", inputs, "-o", out, "--model", model_dir, "--ratio", "100"
    )
    assert code == 0, err
    assert "IMG_1.dng -> " in stdout and "._IMG_1" not in stdout + err and "tmp" not in err
    assert sorted(p.name for p in out.iterdir()) == ["IMG_1.png"]
    (inputs / "IMG_1.dng").unlink()
    code, stdout, err = run_cli(capsys, "enhance", inputs, "-o", out, "--model", model_dir)
    assert_one_line_error(code, stdout, err, str(inputs))
    assert "folder holds no raw files" in err and "2 hidden files skipped" in err


def test_a_bad_file_in_a_folder_run_does_not_stop_the_others(dark_dng, model_dir, tmp_path, capsys):
    inputs = tmp_path / "in"
    inputs.mkdir()
    shutil.copy(dark_dng, inputs / "good.dng")
    (inputs / "broken.NEF").write_bytes(b"\0" * 1000)
    code, stdout, err = run_cli(
        capsys, "enhance", inputs, "-o", tmp_path / "out", "--model", model_dir, "--ratio", "100"
    )
    assert code == 2
    assert "broken.NEF: not a camera raw file" in err
    assert "1 of 2 inputs failed" in err
    assert (tmp_path / "out" / "good.png").is_file()


# ------------------------------------------------------------------------- bad inputs
@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_files(raw_dir, model_dir, tmp_path, capsys, case):
    inputs = tmp_path / "in"
    inputs.mkdir()
    cases = bad_input_files(inputs, raw_dir)
    cases["directory"] = (
        cases["directory"][0],
        "folder holds no raw files",
    )  # enhance takes folders
    path, problem = cases[case]
    outputs = tmp_path / "out"
    outputs.mkdir()
    argv = ["enhance", path, "-o", outputs / "x.png", "--model", model_dir, "--ratio", "10"]
    assert_bad_input_refused(capsys, argv, path, problem, outputs)


def test_bad_models_and_options(dark_dng, model_dir, tmp_path, capsys):
    out = tmp_path / "x.png"
    broken = tmp_path / "broken"
    shutil.copytree(model_dir, broken)
    weights = broken / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    cases = [
        (["--model", broken], "corrupt weights file"),
        (["--model", tmp_path / "nope"], "model not found"),
        (["--model", model_dir, "--device", "cuda:7"] if not torch.cuda.is_available() else None,
         "CUDA is not available"),
        (["--model", model_dir, "--target-iso", "100"], "--target-iso needs --target-exposure"),
        (["--model", model_dir, "--ratio", "5", "--target-exposure", "1"], "do not give --ratio"),
        (["--model", model_dir, "--camera", "Nope"], "unknown camera profile"),
        (["--model", model_dir, "--device", "bogus"], "device 'bogus': not a device"),
        (["--model", model_dir, "--tile", "20"], "--tile must be 0 (no tiling) or >= 64"),
    ]  # fmt: skip
    for extra, problem in cases:
        if extra is None:
            continue
        code, stdout, err = run_cli(capsys, "enhance", dark_dng, "-o", out, *extra)
        assert code == 2 and problem in err and err.count("\n") == 1, (extra, err)
        assert not out.exists()
    # outputs: checked before any model is loaded
    for target, extra, problem in [
        (tmp_path / "x.jpg", [], "cannot write .jpg files"),
        (tmp_path / "x.dng", ["--bits", "8"], "--bits is for PNG/TIFF"),
        (tmp_path / "x.png", ["--format", "dng"], "the extension says png"),
    ]:
        code, stdout, err = run_cli(
            capsys, "enhance", dark_dng, "-o", target, "--model", tmp_path / "nope", *extra
        )
        assert code == 2 and problem in err, err
    out.write_bytes(b"old")
    code, _, err = run_cli(capsys, "enhance", dark_dng, "-o", out, "--model", model_dir)
    assert code == 2 and "already exists (pass --overwrite" in err and out.read_bytes() == b"old"
    code, _, err = run_cli(capsys, "enhance", dark_dng, dark_dng, "-o", out, "--model", model_dir)
    assert code == 2 and "a file name, but there are 2 inputs" in err
    code, _, err = run_cli(capsys, "enhance", dark_dng, "-o", "", "--model", model_dir)
    assert code == 2 and "the output path is empty" in err
    # argparse rejects a non-finite consistency and a darkening ratio
    with pytest.raises(SystemExit, match="^2$"):
        main(["enhance", str(dark_dng), "-o", str(out), "--consistency", "inf"])
    assert "must be a finite number >= 0" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="^2$"):
        main(["enhance", str(dark_dng), "-o", str(out), "--ratio", "0.5"])
    assert "expodiff brightens, it does not darken" in capsys.readouterr().err


@pytest.mark.slow
def test_packaged_default_model(raw_dir, tmp_path, capsys):
    """The shipped model on the bundled demo sample: far better than the amplified input."""
    if default_model_path() is None:
        pytest.skip("the package has no default model yet (src/expodiff/models/default/)")
    from expodiff.eval.metrics import psnr
    from expodiff.inference.api import enhance
    from expodiff.inference.darken import crop_frame

    sample = (project_root() or Path.cwd()) / "examples" / DEMO_SAMPLE
    if not sample.is_file():
        pytest.skip(f"demo sample {sample} not found (a source checkout has it)")
    code, out, err = run_cli(
        capsys, "enhance", sample, "-o", tmp_path / "demo.png", "--ratio", "100"
    )
    assert code == 0, err
    result = enhance(sample, ratio=100, seed=0)
    clean = crop_frame(read_raw(raw_dir / "Canon_EOS_D30.CRW"), DEMO_CROP).packed_norm()
    clean = clean.clamp(0, 1)
    scaled = (read_raw(sample).packed_norm() * 100).clamp(0, 1)
    assert psnr(result.raw_norm, clean) > psnr(scaled, clean) + 6


@pytest.mark.parametrize("command", ["enhance", "darken"])
def test_help(command, capsys):
    with pytest.raises(SystemExit, match="^0$") as info:
        main([command, "--help"])
    assert info.value.code == 0
    assert f"usage: expodiff {command}" in capsys.readouterr().out
