"""benchmarks/heldout.py (issue 12's held-out benchmark) on a tiny setting: the set, the
protocol (expodiff.eval.heldout: a tiny model through expodiff.enhance, the baselines), the
cache and the report's structure (not its values)."""

from __future__ import annotations

import csv
import importlib.util
import math
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow  # BM3D's plumbing and a few enhancements per file


@pytest.fixture(scope="module")
def heldout():
    spec = importlib.util.spec_from_file_location("heldout", ROOT / "benchmarks" / "heldout.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["heldout"] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("heldout", None)


def _box_blur(z, sigma, profile="np"):  # noqa: ARG001
    import numpy as np

    padded = np.pad(z, 1, mode="edge")
    return (
        sum(padded[i : i + z.shape[0], j : j + z.shape[1]] for i in range(3) for j in range(3)) / 9
    )


def _numbers(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def test_tiny_run_report_and_cache(heldout, data_dir, model_dir, tmp_path, monkeypatch):
    import bm3d

    # one condition per group at one ratio (one expodiff enhance call per image), and BM3D's
    # filter replaced by a box blur: its ~2 s per call of fixed cost would dominate; the
    # plumbing around it (noise level, Anscombe transform, profile) still runs
    monkeypatch.setattr(
        heldout, "CONDITIONS",
        (heldout.Condition("moderate", "NikonD850", 1600, 100),
         heldout.Condition("harsh", "CanonEOS70D", 6400, 100)),
    )  # fmt: skip
    monkeypatch.setattr(bm3d, "bm3d", _box_blur)
    out = tmp_path / "docs" / "heldout.md"
    argv = [
        "--workdir", str(tmp_path / "work"), "--limit", "2", "--crop", "128", "96",
        "--threads", "1", "--model", f"tiny={model_dir}", "--out", str(out),
        "--enhance-arg=--steps=1",
    ]  # fmt: skip
    logs: list[str] = []
    text = heldout.main(argv, log=logs.append)

    # the set: 2 images x 2 conditions, DNGs cached
    dark = sorted((tmp_path / "work" / "set-bias-free-128x96" / "dark").glob("*.dng"))
    assert len(dark) == 4
    assert all(re.search(r"__(NikonD850-iso1600|CanonEOS70D-iso6400)-x100$", p.stem) for p in dark)
    for method in ("tiny", "bm3d", "abm3d", "scaled"):
        with open(tmp_path / "work" / "results-bias-free" / f"{method}.csv", newline="") as f:
            rows = list(csv.DictReader(f))
        assert len(rows) == 4
        assert all(math.isfinite(float(r["psnr"])) for r in rows)

    # the report: one table by camera and one by condition per group, then the totals
    assert out.read_text() == text and out.with_suffix(".csv").is_file()
    for heading in ("### moderate: mean PSNR (dB) by camera", "### harsh: mean PSNR (dB) by camera",
                    "### totals"):  # fmt: skip
        assert heading in text
    header = "| camera | files | tiny | bm3d | abm3d | scaled | tiny - BM3D | tiny wins |"
    assert text.count(header) == 2
    assert "| NikonD850 ISO 1600 x100 | 2 |" in text and "| CanonEOS70D | 2 |" in text
    totals = text[text.index("### totals") :].splitlines()
    rows = [_numbers(line) for line in totals if line.startswith("| ") and "files" not in line]
    assert [r[0] for r in rows] == ["moderate", "harsh", "**all**"]
    for r in rows:
        assert r[1] in {"2", "4"}
        assert all(math.isfinite(float(v)) for v in r[2:7])  # 4 methods and the difference
        wins, n = r[7].split("/")
        assert 0 <= int(wins) <= int(n) == int(r[1])
    parts = heldout.photo_parts(heldout.photos_dir())
    test_images = [i for i in heldout.IMAGES if parts[i] == "test"]
    for image in test_images[:2]:
        assert image in text
    assert "Photos:test" in text and "without the colour bias" in text
    assert ".venv/bin/python benchmarks/heldout.py" in text

    # a re-run reuses everything: no enhance subprocess, no new result rows
    logs.clear()
    assert heldout.main(argv, log=logs.append) == text
    assert not any("enhance x" in line or " dB (" in line for line in logs)
    assert "(0 made now)" in logs[0]


def test_model_specs(heldout):
    assert heldout.parse_models([]) == {"default": None}
    with pytest.raises(SystemExit):
        heldout.parse_models(["bm3d=/tmp"])
    with pytest.raises(SystemExit):
        heldout.parse_models(["x=/nonexistent/folder"])


def test_parts_split_the_held_out_photos(heldout, data_dir):
    """Every listed photo is held back from training; val and test share none."""
    parts = heldout.photo_parts(heldout.photos_dir())
    listed = [parts[i] for i in heldout.IMAGES]
    assert set(listed) == {"val", "test"} and listed.count("test") >= 5
    assert listed.count("val") >= 5
    from expodiff.errors import DataError

    with pytest.raises(DataError, match="not of Photos:test"):
        val = next(i for i in heldout.IMAGES if parts[i] == "val")
        heldout.check_heldout_split([val], heldout.photos_dir(), "test")


def test_biased_files_carry_the_bias_the_baselines_remove(heldout, data_dir, tmp_path):
    """A black frame darkened with the colour bias reads back as the bias; bias_dn removes it."""
    import numpy as np
    import torch

    from expodiff.cfa import CFAPattern
    from expodiff.inference.darken import darken_frame
    from expodiff.inference.gain import resolve_camera_profile
    from expodiff.io.frame import frame_from_mosaic
    from expodiff.kinds import NoisePreset
    from expodiff.sensor import SensorSpec

    profile = resolve_camera_profile("CanonEOS70D")
    sensor = SensorSpec.uniform(profile.black_level, profile.white_level, CFAPattern.RGGB)
    mosaic = np.full((256, 256), int(profile.black_level), dtype=np.uint16)
    clean = frame_from_mosaic(mosaic, sensor, make="x", model="y", iso=6400.0)
    means = {}
    for preset in (NoisePreset.ELD, NoisePreset.ELD_BIAS):
        dark = darken_frame(
            clean, ratio=1.0, profile=profile, iso=6400, preset=preset,
            generator=torch.Generator().manual_seed(0),
        )  # fmt: skip
        means[preset] = dark.packed_dn().mean((1, 2)).double()
    bias = torch.tensor(heldout.bias_dn("CanonEOS70D", 6400), dtype=torch.float64)
    assert bias.abs().max() > 0.5  # the 70D at ISO 6400 has a visible colour bias
    measured = means[NoisePreset.ELD_BIAS] - means[NoisePreset.ELD]
    assert torch.allclose(measured, bias, atol=0.3), (measured, bias)


def test_the_protocol_measures_what_the_cli_writes(data_dir, model_dir, tmp_path, capsys):
    """expodiff.eval.heldout_methods.measure_model (through expodiff.enhance) gives the PSNR of
    the DNG ``expodiff enhance FILE.dng --ratio R`` writes (up to the DNG's 16-bit rounding)."""
    from expodiff.cli import main as cli
    from expodiff.eval.heldout import Condition, build_set
    from expodiff.eval.heldout_methods import measure_model
    from expodiff.eval.metrics import psnr
    from expodiff.inference.model_loading import load_model
    from expodiff.io.rawio import read_raw

    cond = Condition("harsh", "CanonEOS70D", 6400, 100)
    (f,) = build_set(tmp_path, ["mate_Aqua.jpg"], [cond], (128, 96), log=lambda *_: None)
    value, seconds = measure_model(load_model(model_dir, device="cpu"), f, {"steps": 2})
    out = tmp_path / "out.dng"
    argv = [
        "enhance", str(f.dark), "-o", str(out), "--ratio", "100", "--model", str(model_dir),
        "--steps", "2", "--device", "cpu", "--quiet",
    ]  # fmt: skip
    assert cli(argv) == 0
    capsys.readouterr()
    clean = read_raw(f.clean).packed_norm().clamp(0.0, 1.0)
    written = psnr(read_raw(out).packed_norm().clamp(0.0, 1.0), clean)
    assert math.isfinite(value) and seconds > 0
    assert value == pytest.approx(written, abs=0.01)
