"""System gain K for ``expodiff enhance``: blind photon-transfer estimate, profiles, sources."""

from __future__ import annotations

import math

import pytest
import torch

from enhance_helpers import FULL_SCALE_DN, canon_clean, darkened
from expodiff.inference.darken import SIMULATED_CAMERA_NAMES
from expodiff.inference.gain import GainSource, resolve_gain
from expodiff.inference.gain._blind import fit_noise_curve, pure_noise_quantile
from expodiff.inference.gain._cameras import CAMERA_ALIASES, camera_key, match_profile
from expodiff.inference.gain._estimate import blind_gain, profile_gain
from expodiff.io.profiles import list_profiles, load_profile

GAIN_RANGE = (0.1, 30.0)


@pytest.fixture(scope="module")
def canon_full(raw_dir):
    return canon_clean(raw_dir)


def _ramp_frame(system_gain: float, ratio: float, read_dn: float, seed: int = 0) -> torch.Tensor:
    """A smooth (texture-free) scene darkened with Poisson + Gaussian noise of a known K."""
    g = torch.Generator().manual_seed(seed)
    yy = torch.linspace(0, 1, 256).view(-1, 1)
    xx = torch.linspace(0, 1, 384).view(1, -1)
    clean = (0.02 + 0.4 * xx * yy).expand(4, -1, -1)
    signal_dn = clean * FULL_SCALE_DN / ratio
    shot = torch.poisson(signal_dn / system_gain, generator=g) * system_gain
    read = torch.randn(clean.shape, generator=g) * read_dn
    return (shot + read) / FULL_SCALE_DN


@pytest.mark.parametrize("system_gain", [0.4, 3.0, 20.0])
def test_fit_is_exact_on_a_smooth_scene(system_gain):
    fit = fit_noise_curve(_ramp_frame(system_gain, ratio=100, read_dn=3.0))
    assert fit.measurable
    assert fit.system_gain(FULL_SCALE_DN) == pytest.approx(system_gain, rel=0.05)
    if system_gain <= 3:  # at higher K the shot noise hides the read noise everywhere
        assert fit.read_sigma_dn(FULL_SCALE_DN) == pytest.approx(3.0, rel=0.25)


def test_pure_noise_quantile_matches_simulation():
    """The Wilson-Hilferty quantile of a block's mean squared residual, for white noise."""
    from expodiff.inference.gain._blind import _block_stats

    noise = torch.randn(4, 514, 1026, generator=torch.Generator().manual_seed(0))
    _, _, variances = _block_stats(0.4 + 0.01 * noise, 16)  # std 0.01, below clipping
    for q in (0.1, 0.5):
        simulated = float(torch.quantile(variances / 0.01**2, q))
        assert simulated == pytest.approx(pure_noise_quantile(4 * 16 * 16, q), rel=0.01)


@pytest.mark.data
@pytest.mark.parametrize(
    ("camera", "iso", "ratio"),
    [pytest.param("SonyA7S2", 400, 100, marks=pytest.mark.slow),
     pytest.param("SonyA7S2", 1600, 100, marks=pytest.mark.slow),
     ("SonyA7S2", 3200, 300),  # the fast tier's case (make test-fast)
     pytest.param("SonyA7S2", 6400, 100, marks=pytest.mark.slow),
     pytest.param("NikonD850", 1600, 100, marks=pytest.mark.slow),
     pytest.param("NikonD850", 6400, 300, marks=pytest.mark.slow),
     pytest.param("CanonEOS70D", 3200, 250, marks=pytest.mark.slow)],
)  # fmt: skip
def test_blind_estimate_on_a_real_scene_within_25_percent(canon_full, camera, iso, ratio):
    """A real scene (the Canon D30's long exposure: a Christmas tree, dense needles and
    tinsel, some wall) darkened with calibrated ELD noise (shot, Tukey-lambda read, row,
    quantisation, colour bias) at a known K."""
    clean = canon_full
    dark, true_k = darkened(clean, ratio, camera=camera, iso=iso, preset="eld+bias")
    estimate = blind_gain(dark, FULL_SCALE_DN, GAIN_RANGE)
    assert estimate.source is GainSource.BLIND and not estimate.clamped
    assert estimate.system_gain == pytest.approx(true_k, rel=0.25)


def test_blind_estimate_clamps_and_handles_black_frames():
    frame = _ramp_frame(100.0, ratio=100, read_dn=3.0)  # K far above the trained range
    estimate = blind_gain(frame, FULL_SCALE_DN, GAIN_RANGE)
    assert estimate.clamped and estimate.system_gain == GAIN_RANGE[1]
    assert "clamped" in estimate.detail
    black = torch.randn(4, 128, 128, generator=torch.Generator().manual_seed(0)) * 1e-4
    estimate = blind_gain(black, FULL_SCALE_DN, GAIN_RANGE)
    assert estimate.clamped and estimate.system_gain == pytest.approx(math.sqrt(0.1 * 30))
    assert fit_noise_curve(torch.zeros(4, 10, 10)) is None  # smaller than one block


def test_camera_names_match_packaged_profiles():
    assert camera_key("NIKON CORPORATION", "NIKON D850") == "nikon d850"
    assert camera_key("SONY", "ILCE-7SM2") == "sony ilce-7sm2"
    assert camera_key("Canon", "Canon EOS 5D Mark IV") == "canon eos 5d mark iv"
    assert camera_key(None, None) is None
    assert match_profile("Canon", "Canon EOS Rebel T5i") == "CanonEOS700D"
    assert match_profile("Canon", "Canon EOS D30") is None
    assert set(CAMERA_ALIASES.values()) <= set(list_profiles())
    # the names `expodiff darken` writes map back to their profiles
    for profile, (make, model) in SIMULATED_CAMERA_NAMES.items():
        assert match_profile(make, model) == profile


def test_resolve_gain_sources():
    frame = _ramp_frame(3.0, ratio=100, read_dn=3.0)
    kwargs = {"full_scale_dn": FULL_SCALE_DN, "gain_range": GAIN_RANGE}
    est, msgs = resolve_gain(frame, system_gain=2.5, make="SONY", model="ILCE-7SM2", **kwargs)
    assert (est.source, est.system_gain, msgs) == (GainSource.USER, 2.5, [])
    est, msgs = resolve_gain(frame, make="SONY", model="ILCE-7SM2", iso=3200, **kwargs)
    sony = load_profile("SonyA7S2")
    assert est.source is GainSource.PROFILE and est.profile == "SonyA7S2" and msgs == []
    assert est.system_gain == pytest.approx(profile_gain(sony, 3200, FULL_SCALE_DN))
    # a profile on another DN scale keeps electrons per raw_norm unit
    assert profile_gain(sony, 3200, 2 * FULL_SCALE_DN) == pytest.approx(2 * est.system_gain)
    # --camera overrides the file's camera
    est, _ = resolve_gain(
        frame, camera="NikonD850", make="SONY", model="ILCE-7SM2", iso=800, **kwargs
    )
    assert est.profile == "NikonD850"
    # an unknown camera: blind, with a warning naming it
    est, msgs = resolve_gain(frame, make="Canon", model="Canon EOS D30", iso=100, **kwargs)
    assert est.source is GainSource.BLIND and est.system_gain == pytest.approx(3.0, rel=0.1)
    assert len(msgs) == 1 and "no calibrated noise profile for canon eos d30" in msgs[0]
    # a known camera without ISO: blind, saying why
    est, msgs = resolve_gain(frame, make="SONY", model="ILCE-7SM2", **kwargs)
    assert est.source is GainSource.BLIND and "has no ISO" in msgs[0]
    # K outside the trained range warns
    est, msgs = resolve_gain(frame, system_gain=100.0, **kwargs)
    assert "outside the range" in msgs[0]
