"""The command line where the environment is hostile: standard output closed, broken or
full; file names that are not UTF-8 or too long; folders that cannot be read; two runs
writing one folder at once. Each case ends in the result or one error line, never a
traceback, and loses nothing."""

from __future__ import annotations

import errno
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cli_helpers import assert_one_line_error, run_cli
from enhance_helpers import small_dark_dng
from expodiff.cli import main
from expodiff.io.atomic import OutputExistsError, atomic_output

NAME_MAX = os.pathconf("/", "PC_NAME_MAX") if hasattr(os, "pathconf") else 255


class FailingStdout(io.TextIOBase):
    """A standard output whose writes fail with ``error`` after ``good`` writes."""

    def __init__(self, error: int, good: int = 0) -> None:
        self.error, self.good, self.lines = error, good, []

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if len(self.lines) >= self.good:
            raise OSError(self.error, os.strerror(self.error))
        self.lines.append(text)
        return len(text)


@pytest.fixture(scope="module")
def dark_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("dark")
    for i in range(3):
        small_dark_dng(folder / f"d{i}.dng", height=64, width=96, seed=i)
    return folder


# ------------------------------------------------------------------ standard output
@pytest.mark.parametrize("error", [errno.EPIPE, errno.ENOSPC, errno.EBADF])
def test_a_folder_run_finishes_when_stdout_fails(
    dark_folder, model_dir, tmp_path, monkeypatch, capsys, error
):
    """The first summary line cannot be written: every file is still enhanced; a reader
    that went away (EPIPE) ends quietly, a full disk or closed descriptor is one error line."""
    stdout = FailingStdout(error)
    monkeypatch.setattr(sys, "stdout", stdout)
    argv = ["enhance", dark_folder, "-o", tmp_path / "out", "--model", model_dir, "--ratio", "20"]
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["d0.png", "d1.png", "d2.png"]
    assert "Traceback" not in err and "Exception" not in err
    if error == errno.EPIPE:
        assert code == 0 and "error" not in err
    else:
        assert code == 2
        assert (
            err.strip()
            .splitlines()[-1]
            .startswith("expodiff: error: cannot write to standard output (")
        )
        assert err.count("expodiff: error:") == 1


def test_closed_stdout_is_one_error_line(raw_dir, monkeypatch, capsys):
    """``expodiff info FILE >&-``: Python starts with sys.stdout None."""
    monkeypatch.setattr(sys, "stdout", None)
    code = main(["info", str(raw_dir / "Canon_EOS_D30.CRW")])
    err = capsys.readouterr().err
    assert code == 2
    assert err == (
        "expodiff: error: cannot write to standard output (it is closed); what was printed "
        "after that is lost\n"
    )


@pytest.mark.slow
@pytest.mark.data
def test_real_processes_with_a_broken_closed_or_full_stdout(raw_dir, tmp_path):
    """As a shell runs it: ``| head -c 10`` (the reader has gone: EPIPE), ``>&-``,
    ``>/dev/full``."""
    file = raw_dir / "Canon_EOS_D30.CRW"
    command = [sys.executable, "-m", "expodiff", "info", "--json", str(file)]
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before anything is written
    try:
        broken = subprocess.run(command, stdout=write_end, stderr=subprocess.PIPE, timeout=120)
    finally:
        os.close(write_end)
    assert broken.returncode == 0 and broken.stderr == b""
    shell = f"{' '.join(command)} >&-"
    closed = subprocess.run(["sh", "-c", shell], capture_output=True, text=True, timeout=120)
    assert closed.returncode == 2
    assert closed.stderr.startswith("expodiff: error: cannot write to standard output (it is")
    assert closed.stderr.count("\n") == 1
    if Path("/dev/full").exists():
        with open("/dev/full", "w") as full:
            result = subprocess.run(
                command, stdout=full, stderr=subprocess.PIPE, text=True, timeout=120
            )
        assert result.returncode == 2
        assert result.stderr == (
            "expodiff: error: cannot write to standard output (No space left on device); "
            "what was printed after that is lost\n"
        )


def test_names_the_terminal_cannot_show_are_replaced(raw_dir, tmp_path, monkeypatch, capsys):
    """An ASCII terminal and a non-ASCII file name: printed with a replacement character."""
    name = tmp_path / "été.CRW"
    name.write_bytes((raw_dir / "Canon_EOS_D30.CRW").read_bytes())
    buffer = io.BytesIO()
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(buffer, encoding="ascii"))
    code = main(["info", str(name)])
    sys.stdout.flush()
    assert code == 0
    assert f"file:          {tmp_path}/?t?.CRW\n".encode() in buffer.getvalue()
    assert capsys.readouterr().err == ""


# ------------------------------------------------------------------ file names
@pytest.mark.skipif(sys.platform == "darwin", reason="macOS refuses names that are not UTF-8")
def test_file_names_that_are_not_utf8(model_dir, tmp_path, capsys):
    """A Latin-1 name (bytes e9 for é) is read, enhanced and written under its own bytes."""
    folder = tmp_path / "in"
    folder.mkdir()
    source = folder / os.fsdecode(b"caf\xe9.dng")
    small_dark_dng(source, height=64, width=96)
    code, out, err = run_cli(capsys, "info", source)
    assert code == 0 and "camera:        SONY ILCE-7SM2" in out and "Traceback" not in err
    code, out, err = run_cli(
        capsys, "enhance", folder, "-o", tmp_path / "out", "--model", model_dir, "--ratio", "20"
    )
    assert code == 0, err
    assert os.listdir(os.fsencode(tmp_path / "out")) == [b"caf\xe9.png"]
    # capsys encodes strictly: the undecodable byte is printed as a replacement character
    assert "caf?.dng -> " in out and "caf?.png: ratio 20 (user)" in out


def test_names_too_long_for_the_file_system(model_dir, tmp_path, capsys):
    """Over NAME_MAX: one line naming the problem; a long name that fits is written."""
    long_input = tmp_path / ("x" * (NAME_MAX + 10) + ".dng")
    code, out, err = run_cli(capsys, "info", long_input)
    assert_one_line_error(code, out, err, "File name too long")
    source = small_dark_dng(tmp_path / "d.dng", height=64, width=96)
    too_long = tmp_path / ("y" * (NAME_MAX + 10) + ".png")
    code, out, err = run_cli(capsys, "develop", source, "-o", too_long)
    assert_one_line_error(code, out, err, "File name too long")
    code, out, err = run_cli(
        capsys, "enhance", source, "-o", too_long, "--model", model_dir, "--ratio", "20"
    )
    assert_one_line_error(code, out, err, "File name too long")
    # A name at the limit itself: its temporary file's longer name must not get in the way.
    at_limit = tmp_path / ("z" * (NAME_MAX - 4) + ".png")
    code, out, err = run_cli(capsys, "develop", source, "-o", at_limit)
    assert code == 0 and at_limit.is_file(), err
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["d.dng", at_limit.name])


def test_an_unreadable_folder_is_one_line(dark_folder, tmp_path, monkeypatch, capsys):
    """``chmod 000 FOLDER`` (simulated: root reads through permission bits)."""

    def denied(self):
        raise PermissionError(errno.EACCES, "Permission denied", str(self))

    monkeypatch.setattr(Path, "iterdir", denied)
    code, out, err = run_cli(capsys, "enhance", dark_folder, "-o", tmp_path / "out")
    assert_one_line_error(code, out, err, f"{dark_folder}: cannot read the folder")
    code, out, err = run_cli(capsys, "calibrate", dark_folder, "-o", tmp_path / "p.json")
    assert_one_line_error(code, out, err, f"{dark_folder}: cannot read the folder")
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a chmod 000 folder regardless")
def test_a_chmod_000_folder_is_one_line(dark_folder, tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0)
    try:
        code, out, err = run_cli(capsys, "enhance", locked, "-o", tmp_path / "out")
    finally:
        locked.chmod(0o700)
    assert_one_line_error(code, out, err, f"{locked}: cannot read the folder")


def test_os_errors_anywhere_are_one_line(tmp_path, monkeypatch, capsys):
    """A file-system error the commands do not foresee still ends in one line naming it."""
    import expodiff.cli.profiles as profiles

    def broken(args):
        raise OSError(errno.EIO, "Input/output error", str(tmp_path / "disk"))

    monkeypatch.setattr(profiles, "run", broken)
    code, out, err = run_cli(capsys, "profiles")
    assert_one_line_error(code, out, err, f"{tmp_path / 'disk'}: Input/output error")
    with pytest.raises(OSError):
        main(["--debug", "profiles"])


# ------------------------------------------------------------------ concurrent runs
def test_atomic_output_never_replaces_a_file_written_meanwhile(tmp_path):
    final = tmp_path / "out.png"
    with pytest.raises(OutputExistsError), atomic_output(final) as tmp:
        tmp.write_bytes(b"mine")
        final.write_bytes(b"theirs")  # another process finished first
    assert final.read_bytes() == b"theirs"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]  # no temporary file left


def test_outputs_written_meanwhile_by_another_run_are_skipped(
    dark_folder, model_dir, tmp_path, monkeypatch, capsys
):
    """Another ``expodiff enhance`` into the same folder writes d1.png while this run works
    on d0 and d2.png while this run enhances d2: both are reported as written meanwhile,
    kept as they are, and the run succeeds."""
    import expodiff.inference.api as api

    out = tmp_path / "out"
    real = api.enhance
    calls = []

    def with_a_concurrent_run(*args, **kwargs):
        calls.append(1)
        result = real(*args, **kwargs)
        out.mkdir(exist_ok=True)
        if len(calls) == 1:
            (out / "d1.png").write_bytes(b"the other run's d1")
        else:
            (out / "d2.png").write_bytes(b"the other run's d2")
        return result

    monkeypatch.setattr(api, "enhance", with_a_concurrent_run)
    argv = ["enhance", dark_folder, "-o", out, "--model", model_dir, "--ratio", "20"]
    code, stdout, err = run_cli(capsys, *argv)
    assert code == 0, err
    assert "error" not in err and "failed" not in stdout + err
    assert f"d1.dng -> {out / 'd1.png'}: skipped: written meanwhile by another run" in stdout
    assert f"d2.dng -> {out / 'd2.png'}: skipped: written meanwhile by another run" in stdout
    assert len(calls) == 2  # d1 was not enhanced again
    assert (out / "d1.png").read_bytes() == b"the other run's d1"
    assert (out / "d2.png").read_bytes() == b"the other run's d2"
    assert sorted(p.name for p in out.iterdir()) == ["d0.png", "d1.png", "d2.png"]


def test_a_map_written_meanwhile_leaves_the_job_to_the_other_run(
    dark_folder, model_dir, tmp_path, monkeypatch, capsys
):
    """With --samples the other run writes its uncertainty map first: a map that appears
    while this run enhances means the other run does that job (not a failure)."""
    import expodiff.inference.api as api

    out = tmp_path / "out"
    real = api.enhance
    calls = []

    def with_a_concurrent_run(*args, **kwargs):
        calls.append(1)
        result = real(*args, **kwargs)
        if len(calls) == 2:
            out.mkdir(exist_ok=True)
            (out / "d1.uncertainty.png").write_bytes(b"the other run's map")
        return result

    monkeypatch.setattr(api, "enhance", with_a_concurrent_run)
    argv = ["enhance", dark_folder, "-o", out, "--model", model_dir, "--ratio", "20",
            "--samples", "2"]  # fmt: skip
    code, stdout, err = run_cli(capsys, *argv)
    assert code == 0, err
    assert "error" not in err and "failed" not in stdout + err
    assert f"d1.dng -> {out / 'd1.png'}: skipped: written meanwhile by another run" in stdout
    assert (out / "d1.uncertainty.png").read_bytes() == b"the other run's map"
    assert not (out / "d1.png").exists()  # the other run's to write
    assert {"d0.png", "d2.png", "d0.uncertainty.png", "d2.uncertainty.png"} <= {
        p.name for p in out.iterdir()
    }


# ------------------------------------------------------------------ tiny mosaics
@pytest.mark.parametrize(("height", "width"), [(2, 2), (3, 3), (2, 2000), (2000, 2)])
def test_tiny_mosaics(model_dir, tmp_path, capsys, height, width):
    """develop and enhance to PNG work (bilinear where Malvar's 5 x 5 filters do not fit);
    a DNG under LibRaw's 22 x 22 and an explicit Malvar are refused in one line."""
    import numpy as np
    from PIL import Image

    source = tmp_path / "tiny.png"
    values = np.random.default_rng(0).integers(0, 4000, size=(height, width))
    Image.fromarray(values.astype(np.uint16)).save(source)
    h, w = height // 2 * 2, width // 2 * 2  # whole CFA periods
    mosaic = [source, "--cfa", "RGGB"]
    code, out, err = run_cli(capsys, "develop", *mosaic, "-o", tmp_path / "d.png")
    assert code == 0 and f"({w} x {h} sRGB, 8-bit PNG)" in out, err
    assert Image.open(tmp_path / "d.png").size == (w, h)
    code, out, err = run_cli(
        capsys, "develop", *mosaic, "-o", tmp_path / "m.png", "--demosaic", "malvar"
    )
    assert_one_line_error(code, out, err, f"a {w} x {h} mosaic is too small for the Malvar")
    code, out, err = run_cli(
        capsys, "enhance", *mosaic, "-o", tmp_path / "e.png", "--model", model_dir,
        "--ratio", "10", "--steps", "1",
    )  # fmt: skip
    assert code == 0, err
    assert Image.open(tmp_path / "e.png").size == (w, h)
    too_small = f"tiny.png: a {w} x {h} mosaic is too small for a DNG"
    for argv in (
        ["develop", *mosaic, "-o", tmp_path / "d.dng"],
        ["enhance", *mosaic, "-o", tmp_path / "e.dng", "--model", model_dir, "--ratio", "10"],
        ["darken", *mosaic, "-o", tmp_path / "k.dng", "--ratio", "10", "--camera", "SonyA7S2",
         "--iso", "3200"],
    ):  # fmt: skip
        code, out, err = run_cli(capsys, *argv)
        assert_one_line_error(code, out, err, too_small)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.png", "e.png", "tiny.png"]


# ------------------------------------------------------------------ options at the boundary
def _usage_error(capsys, argv) -> str:
    with pytest.raises(SystemExit) as exited:
        main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert exited.value.code == 2 and out == "" and err.count("\n") == 1, err
    return err


@pytest.mark.parametrize("value", ["18446744073709551616", str(10**30), "-1"])
def test_seeds_are_64_bit(dark_folder, tmp_path, capsys, value):
    source = dark_folder / "d0.dng"
    for argv in (
        ["enhance", source, "-o", tmp_path / "e.png"],
        ["darken", source, "-o", tmp_path / "k.dng", "--ratio", "2", "--camera", "SonyA7S2",
         "--iso", "100"],
        ["evaluate", "--baseline", "scaled"],
        ["cache-patches", "-o", tmp_path / "cache"],
    ):  # fmt: skip
        err = _usage_error(capsys, [*argv, "--seed", value])
        assert "argument --seed: must be an integer from 0 to 2**64 - 1" in err
    assert list(tmp_path.iterdir()) == []


def test_the_largest_seed_works(dark_folder, model_dir, tmp_path, capsys):
    code, out, err = run_cli(
        capsys, "enhance", dark_folder / "d0.dng", "-o", tmp_path / "e.png", "--model", model_dir,
        "--ratio", "20", "--samples", "2", "--seed", str(2**64 - 1),
    )  # fmt: skip
    assert code == 0, err


def test_enhance_api_seed_and_source_types(dark_folder):
    from expodiff.errors import ExpodiffError
    from expodiff.inference.api import enhance

    with pytest.raises(ExpodiffError, match="seed must be an integer from 0 to 2\\*\\*64 - 1"):
        enhance(dark_folder / "d0.dng", seed=2**64)
    with pytest.raises(ExpodiffError, match="ratio must be a finite number from 1 to 10000"):
        enhance(dark_folder / "d0.dng", ratio=float("inf"))
    for source, kind in [(b"II*\x00", "bytes"), (None, "NoneType"), (5, "int"), ([1, 2], "list")]:
        with pytest.raises(TypeError, match=f"source must be a raw file path .* got {kind}") as e:
            enhance(source)
        assert isinstance(e.value, ExpodiffError) and "shape" not in str(e.value)


@pytest.mark.parametrize("ratios", ["nan", "inf", "100,inf", "-inf"])
def test_evaluate_ratios_must_be_finite(capsys, ratios):
    err = _usage_error(capsys, ["evaluate", "--baseline", "scaled", f"--ratios={ratios}"])
    assert "argument --ratios: ratios must be finite numbers >= 1" in err


@pytest.mark.parametrize(("value", "problem"), [
    ("inf", "must be a finite number from 1 to 10000, got inf"),
    ("nan", "must be a finite number from 1 to 10000, got nan"),
    ("0.5", "must be >= 1 (expodiff brightens, it does not darken), got 0.5"),
])  # fmt: skip
def test_enhance_ratio_messages(dark_folder, tmp_path, capsys, value, problem):
    err = _usage_error(capsys, ["enhance", dark_folder, "-o", tmp_path, f"--ratio={value}"])
    assert f"argument --ratio: {problem}" in err


def test_an_empty_model_name_says_so(dark_folder, tmp_path, capsys):
    for model in ("", "  "):
        code, out, err = run_cli(
            capsys, "enhance", dark_folder / "d0.dng", "-o", tmp_path / "e.png", "--model", model
        )
        assert_one_line_error(code, out, err, "the model name is empty")
        assert "config.yaml" not in err
    code, out, err = run_cli(capsys, "evaluate", "--model", "", "--baseline", "scaled")
    assert_one_line_error(code, out, err, "--model '': the model path is empty")
    assert list(tmp_path.iterdir()) == []


def test_an_output_folder_that_is_a_file(tmp_path, capsys):
    """train, evaluate and the paper benchmark refuse before any work, in one line naming
    the option."""
    configs = Path(__file__).resolve().parents[1] / "configs"
    file = tmp_path / "taken"
    file.write_text("mine")
    cases = [
        (["train", "--config", configs / "pg-unet-ed.yaml", "--set",
          f"train.output_dir={file}"], "(train.output_dir needs a folder here)"),
        (["train", "--config", configs / "pg-unet-ed.yaml", "--set",
          f"train.output_dir={file / 'run'}"], f"{file} is a file"),
        (["evaluate", "--baseline", "scaled", "-o", file],
         "(--output-dir, eval.output_dir needs a folder here)"),
        (["cache-patches", "-o", file / "cache", "--quiet"], f"output folder {file} is a file"),
    ]  # fmt: skip
    for argv, problem in cases:
        code, out, err = run_cli(capsys, *argv)
        assert_one_line_error(code, out, err, problem)
    from benchmarks.paper.__main__ import main as benchmark

    for argv, problem in [
        (["--quick", "--workdir", file, "--out", tmp_path / "b.md"],
         "(--workdir needs a folder here)"),
        (["--quick", "--workdir", tmp_path / "w", "--out", file / "b.md"],
         f"(--out {file / 'b.md'} needs a folder here)"),
    ]:  # fmt: skip
        code = benchmark([str(a) for a in argv])
        out, err = capsys.readouterr()
        assert code == 2 and out == "" and err.count("\n") == 1, err
        assert err.startswith("python -m benchmarks.paper: error: ") and problem in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]
    assert file.read_text() == "mine"


def test_progress_lines_follow_the_current_stderr(monkeypatch):
    """The commands' logging handler is made once per process; each record goes to the
    stderr of the command running now (``main`` may run several in one process)."""
    import logging

    from expodiff.cli.streams import StderrHandler

    logger = logging.getLogger("expodiff.test_stderr_handler")
    handler = StderrHandler()
    logger.addHandler(handler)
    try:
        first, second = io.StringIO(), io.StringIO()
        monkeypatch.setattr(sys, "stderr", first)
        logger.warning("one")
        monkeypatch.setattr(sys, "stderr", second)
        logger.warning("two")
    finally:
        logger.removeHandler(handler)
    assert first.getvalue() == "one\n" and second.getvalue() == "two\n"
