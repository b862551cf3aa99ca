"""Shared helpers of the CLI tests: running ``expodiff`` in-process and the bad input files."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from expodiff.cli import main
from expodiff.errors import InputFileError

# The bad inputs of issue 2 §7 that every raw-reading command must report in one line.
BAD_INPUTS = ["missing", "directory", "empty", "truncated", "corrupt", "jpeg", "scanner"]


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    """``expodiff ARGV...`` in this process: ``(exit code, stdout, stderr)``."""
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, out: str, err: str, name: str) -> None:
    """A failed run printed nothing but one ``expodiff: error:`` line naming ``name``."""
    assert code != 0
    assert out == ""
    assert err.count("\n") == 1, err
    assert err.startswith("expodiff: error: ") and name in err
    assert "Traceback" not in err


def assert_bad_input_refused(capsys, argv, path: Path, problem: str, outputs: Path) -> None:
    """``expodiff ARGV...`` on the bad input ``path`` fails in one line naming it and
    ``problem`` and writes nothing to ``outputs``; with ``--debug`` the real exception shows."""
    code, out, err = run_cli(capsys, *argv)
    assert_one_line_error(code, out, err, path.name)
    assert problem in err
    assert list(outputs.iterdir()) == []
    with pytest.raises(InputFileError, match=re.escape(f"{path.name}: {problem}")):
        main(["--debug", *map(str, argv)])


def bad_input_files(tmp: Path, raw_dir: Path) -> dict[str, tuple[Path, str]]:
    """Each case of :data:`BAD_INPUTS` -> ``(path, words the error must contain)``.

    Files are written under ``tmp`` (the scanner file is the reference data's own); the
    ``directory`` case's words are those of a command that reads one file.
    """
    from PIL import Image

    kodak = (raw_dir / "RAW_KODAK_DC50.KDC").read_bytes()
    cases = {"missing": (tmp / "missing.CR2", "no such file")}
    folder = tmp / "folder.dng"
    folder.mkdir()
    cases["directory"] = (folder, "is a directory")
    (tmp / "empty.NEF").touch()
    cases["empty"] = (tmp / "empty.NEF", "empty file")
    (tmp / "truncated.KDC").write_bytes(kodak[: len(kodak) // 2])
    cases["truncated"] = (tmp / "truncated.KDC", "truncated")
    corrupt = bytearray(kodak)
    corrupt[:64] = bytes(64)
    (tmp / "corrupt.KDC").write_bytes(bytes(corrupt))
    cases["corrupt"] = (tmp / "corrupt.KDC", "not a camera raw file")
    Image.new("RGB", (40, 30), (10, 200, 10)).save(tmp / "photo.jpg")
    cases["jpeg"] = (tmp / "photo.jpg", "a JPEG image, not a camera raw file")
    cases["scanner"] = (
        raw_dir / "NEGATIVE_Nikon_Coolscan_IV_scanner.nef",
        "not a colour-filter-array sensor",
    )
    return cases
