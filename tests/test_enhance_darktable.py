"""K from darktable's noise profiles for cameras without a calibrated profile (issue 13)."""

from __future__ import annotations

import json
import math
import statistics
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch

from cli_helpers import run_cli
from enhance_helpers import FULL_SCALE_DN, save_tiny_model
from expodiff.inference.gain import GainSource, resolve_gain
from expodiff.inference.gain._cameras import darktable_key
from expodiff.inference.gain._darktable import (
    DARKTABLE_NOISEPROFILES_ENV,
    DARKTABLE_SHOT_NOISE_FACTOR,
    DarktableProfileError,
    darktable_profiles_path,
    find_darktable_camera,
    load_darktable_profiles,
    match_darktable,
)
from expodiff.io.dng import write_dng
from expodiff.io.profiles import load_profile
from expodiff.sensor import SensorSpec

GAIN_RANGE = (0.1, 30.0)
RANGE_DN = 13000.0  # white - black of the test files


def _slope(k_model: float) -> float:
    """The darktable green slope ``a`` that stands for a K on the model's scale."""
    return k_model * DARKTABLE_SHOT_NOISE_FACTOR / FULL_SCALE_DN


def write_noiseprofiles(path: Path, k_at_400: float = 3.0) -> Path:
    """A small noiseprofiles.json in darktable's format: the Canon EOS D30 (no packaged
    profile) with K proportional to ISO (``k_at_400`` at ISO 400 on the model's scale), a
    skipped profile, a camera whose profiles are all skipped, and another maker."""

    def profile(name, iso, a, skip=False):
        entry = {"name": f"{name} iso {iso}", "iso": iso, "a": [2 * a, a, 1.5 * a],
                 "b": [1e-7, 1e-7, 1e-7]}  # fmt: skip
        return entry | ({"skip": True} if skip else {})

    d30 = [profile("EOS D30", iso, _slope(k_at_400 * iso / 400)) for iso in (100, 400, 1600)]
    d30.append(profile("EOS D30", 800, 1.0, skip=True))  # a bad measurement darktable skips
    data = {
        "version": 0,
        "noiseprofiles": [
            {"maker": "Canon", "models": [
                {"comment": "test", "model": "EOS D30", "profiles": d30},
                {"model": "EOS D60", "profiles": [profile("EOS D60", 100, 1e-5, skip=True)]},
            ]},
            {"maker": "Olympus", "models": [
                {"model": "E-M5", "profiles": [profile("E-M5", 200, 4e-6)]},
            ]},
        ],
    }  # fmt: skip
    path.write_text(json.dumps(data))
    return path


def _ramp(system_gain: float, seed: int = 0) -> torch.Tensor:
    """A smooth dark frame (raw_norm) with Poisson noise of ``system_gain`` (model scale)."""
    g = torch.Generator().manual_seed(seed)
    yy = torch.linspace(0, 1, 192).view(-1, 1)
    xx = torch.linspace(0, 1, 256).view(1, -1)
    clean = (0.005 + 0.03 * xx * yy).expand(4, -1, -1)
    electrons = torch.poisson(clean * FULL_SCALE_DN / system_gain, generator=g)
    return (electrons * system_gain + torch.randn(clean.shape, generator=g) * 2.0) / FULL_SCALE_DN


@pytest.fixture
def profiles_file(tmp_path, monkeypatch):
    path = write_noiseprofiles(tmp_path / "noiseprofiles.json")
    monkeypatch.setenv(DARKTABLE_NOISEPROFILES_ENV, str(path))
    return path


def test_reading_and_interpolating_a_darktable_file(profiles_file):
    cameras = load_darktable_profiles(profiles_file)
    assert [c.name for c in cameras] == ["Canon EOS D30", "Olympus E-M5"]  # D60: all skipped
    d30 = cameras[0]
    assert d30.isos == (100.0, 400.0, 1600.0)  # the skipped ISO 800 is left out
    assert d30.system_gain(400, FULL_SCALE_DN) == pytest.approx(3.0)
    # linear between measured ISOs, proportional to the ISO beyond them
    assert d30.slope_at(1000) == pytest.approx(_slope(3.0 * 1000 / 400))
    assert d30.slope_at(6400) == pytest.approx(4 * d30.slope_at(1600))
    assert d30.slope_at(50) == pytest.approx(d30.slope_at(100) / 2)
    with pytest.raises(ValueError, match="ISO must be a positive number"):
        d30.slope_at(0)
    # matched by the names raw files use
    for make, model in [("Canon", "Canon EOS D30"), ("CANON", "EOS D30")]:
        assert find_darktable_camera(cameras, make, model, darktable_key) is d30
    olympus = find_darktable_camera(cameras, "OLYMPUS IMAGING CORP.", "E-M5", darktable_key)
    assert olympus is cameras[1]
    assert find_darktable_camera(cameras, "Canon", "Canon EOS 5D", darktable_key) is None


def test_darktable_path_setting(tmp_path, monkeypatch, profiles_file):
    assert darktable_profiles_path() == profiles_file
    monkeypatch.setenv(DARKTABLE_NOISEPROFILES_ENV, "")
    assert darktable_profiles_path() is None
    assert match_darktable("Canon", "Canon EOS D30") == (None, None)
    missing = tmp_path / "nothing.json"
    monkeypatch.setenv(DARKTABLE_NOISEPROFILES_ENV, str(missing))
    with pytest.raises(DarktableProfileError, match=f"{missing}: no such file"):
        darktable_profiles_path()
    broken = tmp_path / "broken.json"
    for text, words in [("{not json", "cannot read"), ('{"noiseprofiles": 3}', "not darktable")]:
        broken.write_text(text)
        monkeypatch.setenv(DARKTABLE_NOISEPROFILES_ENV, str(broken))
        with pytest.raises(DarktableProfileError, match=words):
            match_darktable("Canon", "Canon EOS D30")


def test_darktable_prior_and_fallback(profiles_file):
    kwargs = {"full_scale_dn": FULL_SCALE_DN, "gain_range": GAIN_RANGE, "dn_range": RANGE_DN}
    d30 = {"make": "Canon", "model": "Canon EOS D30", "iso": 400}
    # the image agrees with darktable's prior (K 3): the image's estimate, said to agree
    est, msgs = resolve_gain(_ramp(3.6), **d30, **kwargs)
    assert est.source is GainSource.BLIND and est.system_gain == pytest.approx(3.6, rel=0.1)
    assert "darktable's noise profile of Canon EOS D30 at ISO 400 gives 3" in est.detail
    assert len(msgs) == 1 and "agrees" not in msgs[0] and "darktable" in msgs[0]
    # the image disagrees by more than x2: darktable's K
    est, msgs = resolve_gain(_ramp(12.0), **d30, **kwargs)
    assert est.source is GainSource.DARKTABLE and est.system_gain == pytest.approx(3.0)
    assert est.profile == "Canon EOS D30" and est.file_gain == pytest.approx(3.0 * 13000 / 15583)
    assert "differs by more than x2" in est.detail and "K = 3 from darktable" in msgs[0]
    # a black frame cannot be measured: darktable's K at the ISO (interpolated)
    black = torch.randn(4, 128, 128, generator=torch.Generator().manual_seed(0)) * 1e-4
    est, _ = resolve_gain(black, **(d30 | {"iso": 1000}), **kwargs)
    assert est.source is GainSource.DARKTABLE and est.system_gain == pytest.approx(7.5)
    assert "cannot be measured" in est.detail
    # a packaged profile and --camera win; no ISO: blind; an unknown camera: blind
    est, _ = resolve_gain(black, make="SONY", model="ILCE-7SM2", iso=400, **kwargs)
    assert est.source is GainSource.PROFILE
    est, msgs = resolve_gain(black, make="Canon", model="Canon EOS D30", **kwargs)
    assert est.source is GainSource.BLIND and "darktable" not in msgs[0]
    est, _ = resolve_gain(black, make="Canon", model="Canon EOS 5D", iso=400, **kwargs)
    assert est.source is GainSource.BLIND


def test_cli_summary_names_the_darktable_profile(tmp_path, capsys, monkeypatch, profiles_file):
    g = np.random.default_rng(0)
    mosaic = 2048 + g.normal(0, 2, (128, 128))  # black frame: the image cannot be measured
    path = write_dng(
        tmp_path / "d30.dng",
        np.rint(mosaic),
        SensorSpec.uniform(2048, 2048 + RANGE_DN),
        make="Canon",
        model="Canon EOS D30",
        iso=400,
        exposure_time=Fraction(1, 30),
    )
    model = save_tiny_model(tmp_path / "model")
    out = tmp_path / "out.png"
    code, stdout, err = run_cli(
        capsys, "enhance", path, "-o", out, "--model", model, "--ratio", "50"
    )  # fmt: skip
    assert code == 0, err
    assert "K 3 DN/e (darktable profile Canon EOS D30 at ISO 400; the image's own" in stdout
    assert "2.5 DN/e of the file's 13000-DN range = 3 on the model's 15583-DN scale" in stdout
    assert "K = 3 from darktable's noise profile of Canon EOS D30" in err
    # a configured file that is missing: one line naming it, nothing written
    missing = tmp_path / "missing.json"
    monkeypatch.setenv(DARKTABLE_NOISEPROFILES_ENV, str(missing))
    code, stdout, err = run_cli(
        capsys, "enhance", path, "-o", tmp_path / "b.png", "--model", model, "--ratio", "50"
    )  # fmt: skip
    assert code == 2 and err.count("\n") == 1 and f"{missing}: no such file" in err
    assert not (tmp_path / "b.png").exists()


# White - black that darktable (rawspeed cameras.xml of darktable 4.2) uses for the cameras it
# shares with ELD's calibrations, at ISO 200-6400: the range its slopes are relative to.
DARKTABLE_RANGES = {
    "NikonD850": ("Nikon", "D850", 15520 - 400),
    "CanonEOS70D": ("Canon", "EOS 70D", 15387 - 2026),
    "CanonEOS700D": ("Canon", "EOS 700D", 11222 - 2048),
    "CanonEOS5D4": ("Canon", "EOS 5D Mark IV", 13533 - 2049),
}


def test_installed_darktable_file_against_eld_calibrations(monkeypatch):
    """darktable's green slopes against ELD's K of the same cameras (ISO 200-6400):
    ``F = a * R / K`` over the four cameras has the median DARKTABLE_SHOT_NOISE_FACTOR, and
    each camera stays within the x0.72-x1.40 spread of its median measured for it."""
    monkeypatch.delenv(DARKTABLE_NOISEPROFILES_ENV, raising=False)
    path = darktable_profiles_path()
    if path is None:
        pytest.skip("darktable is not installed (no noiseprofiles.json at its default places)")
    cameras = load_darktable_profiles(path)
    assert len(cameras) > 300
    factors, per_camera = [], {}
    for name, (maker, model, range_dn) in DARKTABLE_RANGES.items():
        camera = find_darktable_camera(cameras, maker, model, darktable_key)
        assert camera is not None, name
        eld = load_profile(name)
        mine = [
            camera.slope_at(iso) * range_dn / eld.system_gain_at_iso(iso)
            for iso in (200, 400, 800, 1600, 3200, 6400)
        ]
        per_camera[name] = statistics.median(mine)
        factors += mine
    assert statistics.median(factors) == pytest.approx(DARKTABLE_SHOT_NOISE_FACTOR, rel=0.02)
    for name, median in per_camera.items():
        assert 0.6 < median / DARKTABLE_SHOT_NOISE_FACTOR < 1.5, (name, median)
    assert math.isfinite(sum(factors))
