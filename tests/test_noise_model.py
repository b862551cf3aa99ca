"""NoiseModel: presets, parameter sampling, synthesis statistics, invariants, errors."""

from __future__ import annotations

import math

import pytest
import torch

from expodiff.build import build_noise_model
from expodiff.config import NoiseConfig, config_from_dict
from expodiff.errors import ConfigError
from expodiff.io.profiles import load_profile, profile_to_json
from expodiff.noise import (
    PRESET_COMPONENTS,
    BiasSource,
    GainSampling,
    NoiseComponent,
    NoiseModel,
    NoiseParams,
    NoisePreset,
    NoisyPair,
    ProfileError,
)
from torch_helpers import gen

FSD = 15583.0
N = NoiseComponent

SONY = [load_profile("SonyA7S2")]  # the default camera of the noise tests


def params(b: int = 1, **values) -> NoiseParams:
    base = dict(system_gain=1.0, read_sigma=2.0, tukey_shape=0.0, tukey_scale=1.0, row_sigma=0.5)
    base.update(values)
    t = {k: torch.as_tensor(v, dtype=torch.float32).expand(b).clone() for k, v in base.items()}
    return NoiseParams(**t, colour_bias=torch.zeros(b, 4))


# --------------------------------------------------------------------------- presets
def test_presets_have_the_paper_components():
    assert PRESET_COMPONENTS[NoisePreset.PG] == {N.POISSON, N.GAUSSIAN}
    assert PRESET_COMPONENTS[NoisePreset.ELD] == {N.POISSON, N.TUKEY, N.ROW, N.QUANTIZATION}
    assert PRESET_COMPONENTS[NoisePreset.ELD_BIAS] == {
        N.POISSON,
        N.TUKEY,
        N.ROW,
        N.QUANTIZATION,
        N.COLOUR_BIAS,
    }
    assert PRESET_COMPONENTS[NoisePreset.GAUSSIAN] == {N.GAUSSIAN}
    assert (
        NoiseModel.from_preset("eld+bias", SONY).components
        == PRESET_COMPONENTS[NoisePreset.ELD_BIAS]
    )


def test_unknown_preset_lists_valid_names():
    with pytest.raises(ValueError, match="valid: pg, eld, eld\\+bias, gaussian"):
        NoiseModel.from_preset("p+g+r", SONY)
    with pytest.raises(ConfigError, match="^unknown noise preset 'nope'; valid: "):  # a CLI error
        NoiseModel.from_preset("nope", SONY)


def test_component_conflicts_and_unknown_components():
    profile = load_profile("SonyA7S2")
    with pytest.raises(ValueError, match="one shot-noise model"):
        NoiseModel([N.POISSON, N.SHOT_GAUSSIAN], [profile])
    with pytest.raises(ValueError, match="one read-noise model"):
        NoiseModel(["gaussian", "tukey"], [profile])
    with pytest.raises(ValueError, match="valid: poisson"):
        NoiseModel(["poison"], [profile])
    with pytest.raises(ValueError, match="at least one camera"):
        NoiseModel([N.POISSON], [])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(ratio_range=(0.5, 10)), "ratio_range"),
        (dict(gain_range=(0.0, 3)), "gain_range"),
        (dict(gain_range=(5.0, 3.0)), "gain_range"),
        (dict(full_scale_dn=0), "full_scale_dn"),
        (dict(black_level_dn=-1), "black_level_dn"),
    ],
)
def test_bad_model_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        NoiseModel.from_preset("pg", SONY, **kwargs)


# ------------------------------------------------------------------------ invariants
def test_no_components_is_the_identity():
    model = NoiseModel([], [load_profile("SonyA7S2")])
    clean = torch.rand(3, 4, 16, 16)
    pair = model.synthesize(clean, ratio=torch.tensor([1.0, 100.0, 300.0]), generator=gen())
    assert torch.equal(pair.noisy, clean)
    assert torch.equal(pair.exposure_ratio, torch.tensor([1.0, 100.0, 300.0]))


def test_pair_fields_shapes_and_dtype():
    model = NoiseModel.from_preset("eld+bias", SONY)
    clean = torch.rand(2, 4, 8, 10, dtype=torch.float64)
    pair = model.synthesize(clean, generator=gen())
    assert isinstance(pair, NoisyPair)
    assert pair.noisy.dtype == torch.float64 and pair.noisy.shape == clean.shape
    assert pair.clean is clean
    assert pair.system_gain.shape == (2,) and pair.exposure_ratio.shape == (2,)
    assert torch.equal(pair.system_gain, pair.params.system_gain)
    assert torch.all((pair.exposure_ratio >= 100) & (pair.exposure_ratio <= 300))


def test_deterministic_with_seeded_generator():
    model = NoiseModel.from_preset("eld+bias", SONY)
    clean = torch.rand(2, 4, 16, 16)
    a = model.synthesize(clean, generator=gen(5))
    b = model.synthesize(clean, generator=gen(5))
    c = model.synthesize(clean, generator=gen(6))
    assert torch.equal(a.noisy, b.noisy) and torch.equal(a.exposure_ratio, b.exposure_ratio)
    assert not torch.equal(a.noisy, c.noisy)
    # the same seed gives the same K for every preset (parameters drawn in a fixed order)
    pg = NoiseModel.from_preset("pg", SONY).synthesize(clean, generator=gen(5))
    assert torch.equal(pg.system_gain, a.system_gain)


def test_clipping_at_white_and_optional_black():
    model = NoiseModel.from_preset("pg", SONY, black_level_dn=512.0)
    clean = torch.zeros(1, 4, 64, 64)
    clean[..., :32] = 150.0  # brighter than white once divided by r = 100
    pair = model.synthesize(clean, ratio=100.0, params=params(read_sigma=200.0), generator=gen())
    assert pair.noisy.max().item() == pytest.approx(100.0)  # white level x r
    assert pair.noisy.min().item() == pytest.approx(-512.0 / FSD * 100.0)
    free = NoiseModel.from_preset("pg", SONY, clip_white=False)
    pair = free.synthesize(clean, ratio=100.0, params=params(read_sigma=200.0), generator=gen())
    assert pair.noisy.max().item() > 100.0
    assert pair.noisy.min().item() < -512.0 / FSD * 100.0


# ---------------------------------------------------------------- synthesis statistics
def test_pg_statistics_on_constant_image_with_per_sample_params():
    model = NoiseModel.from_preset("pg", SONY)
    level, b = 0.3, 3
    clean = torch.full((b, 4, 128, 128), level)
    k = torch.tensor([0.5, 2.0, 8.0])
    sigma = torch.tensor([1.0, 3.0, 6.0])
    ratio = torch.tensor([100.0, 200.0, 50.0])
    pair = model.synthesize(
        clean, ratio=ratio, params=params(b, system_gain=k, read_sigma=sigma), generator=gen(1)
    )
    for i in range(b):
        dn = pair.noisy[i] / ratio[i] * FSD  # short exposure back in DN
        signal = level * FSD / ratio[i]
        assert dn.mean().item() == pytest.approx(signal.item(), abs=0.5)
        expected = k[i] * signal + sigma[i] ** 2
        assert dn.var().item() == pytest.approx(expected.item(), rel=0.04)


def test_eld_statistics_on_constant_image():
    model = NoiseModel.from_preset("eld+bias", SONY)
    level, r = 0.2, 150.0
    clean = torch.full((1, 4, 256, 256), level)
    p = params(system_gain=2.0, tukey_shape=-0.1, tukey_scale=3.0, row_sigma=1.0)
    p = NoiseParams(**{**p.__dict__, "colour_bias": torch.tensor([[1.0, -1.0, 2.0, 0.5]])})
    pair = model.synthesize(clean, ratio=r, params=p, generator=gen(2))
    dn = pair.noisy[0] / r * FSD
    signal = level * FSD / r
    means = dn.mean(dim=(1, 2))
    assert means.numpy() == pytest.approx(
        [signal + 1.0, signal - 1.0, signal + 2.0, signal + 0.5], abs=0.3
    )
    from expodiff.noise.components import tukey_lambda_variance

    expected = 2.0 * signal + 9.0 * tukey_lambda_variance(-0.1) + 1.0 + 1 / 12
    assert dn.var(dim=(1, 2)).mean().item() == pytest.approx(expected, rel=0.05)


def test_shot_gaussian_component_variance():
    model = NoiseModel([N.SHOT_GAUSSIAN], [load_profile("SonyA7S2")])
    clean = torch.full((1, 4, 128, 128), 0.5)
    pair = model.synthesize(clean, ratio=10.0, params=params(system_gain=4.0), generator=gen(3))
    dn = pair.noisy / 10.0 * FSD
    assert dn.var().item() == pytest.approx(4.0 * 0.5 * FSD / 10.0, rel=0.03)


def test_row_noise_through_the_model_is_per_mosaic_row():
    model = NoiseModel([N.ROW], [load_profile("SonyA7S2")])
    clean = torch.zeros(1, 4, 64, 32)
    pair = model.synthesize(clean, ratio=1.0, params=params(row_sigma=3.0), generator=gen())
    noisy = pair.noisy[0]
    assert torch.equal(noisy[0], noisy[1]) and torch.equal(noisy[2], noisy[3])
    assert torch.all(noisy == noisy[..., :1])


def test_row_and_bias_need_four_channels():
    model = NoiseModel.from_preset("eld", SONY)
    with pytest.raises(ValueError, match="packed Bayer"):
        model.synthesize(torch.rand(1, 9, 6, 6), generator=gen())
    # shot + read noise work on any channel count (X-Trans packing)
    assert NoiseModel.from_preset("pg", SONY).synthesize(torch.rand(1, 9, 6, 6)).noisy.shape[1] == 9


@pytest.mark.parametrize("ratio", [0.5, 0.0, -3.0, float("nan")])
def test_ratio_below_one_is_rejected(ratio):
    with pytest.raises(ValueError, match="ratio"):
        NoiseModel.from_preset("pg", SONY).synthesize(torch.rand(1, 4, 4, 4), ratio=ratio)


@pytest.mark.parametrize("k", [0.0, -1.0])
def test_nonpositive_gain_is_rejected(k):
    with pytest.raises(ValueError, match="K"):
        params(system_gain=k)


def test_params_batch_checks_and_broadcast():
    model = NoiseModel.from_preset("pg", SONY)
    clean = torch.rand(3, 4, 8, 8)
    pair = model.synthesize(clean, ratio=50.0, params=params(1), generator=gen())
    assert pair.system_gain.shape == (3,)
    with pytest.raises(ValueError, match="broadcast"):
        model.synthesize(clean, params=params(2))
    with pytest.raises(ValueError, match="must be"):
        NoiseParams(
            system_gain=torch.ones(2),
            read_sigma=torch.ones(3),
            tukey_shape=torch.ones(2),
            tukey_scale=torch.ones(2),
            row_sigma=torch.ones(2),
            colour_bias=torch.zeros(2, 4),
        )


def test_params_helpers():
    p = NoiseModel.from_preset("eld", SONY).sample_params(4, generator=gen())
    assert p.batch_size == 4
    assert p.select(1).batch_size == 1
    assert torch.equal(p.select(slice(0, 2)).system_gain, p.system_gain[:2])
    assert NoiseParams.cat([p, p]).batch_size == 8
    assert p.to("cpu").device.type == "cpu"


# ------------------------------------------------------------------ parameter sampling
def test_sample_params_follows_eld_recipe():
    profile = load_profile("SonyA7S2")
    model = NoiseModel.from_preset("eld", SONY)
    p = model.sample_params(4000, generator=gen(11))
    log_k = torch.log(p.system_gain.double())
    assert log_k.min() >= math.log(0.1) - 1e-6 and log_k.max() <= math.log(30.0) + 1e-6
    # log-uniform: the mean of log K is the midpoint
    assert log_k.mean().item() == pytest.approx((math.log(0.1) + math.log(30)) / 2, abs=0.1)
    # log sigma_TL ~ N(slope log K + bias, sigma^2)
    resid = torch.log(p.tukey_scale.double()) - (
        profile.read_tukey.slope * log_k + profile.read_tukey.bias
    )
    assert resid.mean().item() == pytest.approx(0.0, abs=0.03)
    assert resid.std().item() == pytest.approx(profile.read_tukey.sigma, rel=0.08)
    resid = torch.log(p.row_sigma.double()) - (profile.row.slope * log_k + profile.row.bias)
    assert resid.std().item() == pytest.approx(profile.row.sigma, rel=0.08)
    # lambda from the camera's list, with the colour-bias row of the same calibration entry
    shapes = torch.tensor(profile.tukey_shapes, dtype=torch.float32)
    bias = torch.tensor(profile.colour_bias, dtype=torch.float32)
    for lam, row in zip(p.tukey_shape[:50], p.colour_bias[:50], strict=True):
        matches = torch.nonzero(torch.isclose(shapes, lam)).flatten()
        assert any(torch.allclose(bias[i], row) for i in matches)
    assert (p.tukey_shape == 0).any()  # SonyA7S2 has lambda = 0 entries


def test_camera_range_and_several_cameras():
    sony, nikon = load_profile("SonyA7S2"), load_profile("NikonD850")
    model = NoiseModel.from_preset("eld", [sony, nikon], gain_sampling=GainSampling.CAMERA_RANGE)
    p = model.sample_params(2000, generator=gen(12))
    assert set(p.camera_index.tolist()) == {0, 1}
    for idx, prof in enumerate((sony, nikon)):
        k = p.system_gain[p.camera_index == idx]
        assert k.min() >= prof.gain_min * (1 - 1e-6) and k.max() <= prof.gain_max * (1 + 1e-6)
        lam = p.tukey_shape[p.camera_index == idx]
        assert set(lam.tolist()) <= {float(torch.tensor(v)) for v in prof.tukey_shapes}


def test_sample_ratio_range():
    model = NoiseModel.from_preset("pg", SONY, ratio_range=(20.0, 300.0))
    r = model.sample_ratio(5000, generator=gen(13))
    assert r.shape == (5000,) and r.min() >= 20 and r.max() <= 300
    assert r.mean().item() == pytest.approx(160.0, rel=0.03)


def test_params_for_iso_is_linear_in_iso():
    profile = load_profile("SonyA7S2")
    model = NoiseModel.from_preset("eld", [profile])
    p = model.params_for_iso([100, 3250, 6400])
    k = p.system_gain.tolist()
    assert k[0] == pytest.approx(profile.gain_min, rel=1e-6)
    assert k[2] == pytest.approx(profile.gain_max, rel=1e-6)
    assert k[1] == pytest.approx((profile.gain_min + profile.gain_max) / 2, rel=1e-6)
    assert p.tukey_scale[2].item() == pytest.approx(profile.read_tukey.median(k[2]), rel=1e-5)
    assert p.read_sigma[0].item() == pytest.approx(profile.read_gaussian.median(k[0]), rel=1e-5)
    # lowest ISO: first calibration entry; highest: last
    assert p.tukey_shape[0].item() == pytest.approx(profile.tukey_shapes[0])
    assert p.tukey_shape[2].item() == pytest.approx(profile.tukey_shapes[-1])
    nikon = load_profile("NikonD850")  # a profile object need not be one of the model's
    assert model.params_for_iso(800, nikon).system_gain.item() == pytest.approx(
        nikon.system_gain_at_iso(800), rel=1e-6
    )
    assert model.params_for_iso(800, "sonya7s2").system_gain.item() == pytest.approx(
        profile.system_gain_at_iso(800), rel=1e-6
    )  # a name picks one of the model's profiles, case-insensitively
    with pytest.raises(ProfileError, match=r"camera 'NikonD850' is not one of this model's"):
        model.params_for_iso(800, "NikonD850")
    with pytest.raises(ValueError, match="ISO"):
        model.params_for_iso(0)


def test_black_level_error_bias_source():
    model = NoiseModel.from_preset("eld+bias", SONY, bias_source=BiasSource.BLACK_LEVEL_ERROR)
    profile = load_profile("SonyA7S2")
    p = model.params_for_iso(1600)
    assert torch.allclose(p.colour_bias, torch.full((1, 4), profile.black_level_error_at(1600)))
    s = model.sample_params(8, generator=gen())
    assert torch.all(s.colour_bias == s.colour_bias[:, :1])  # one value on all channels


def test_profile_on_another_scale_is_rescaled():
    sony = load_profile("SonyA7S2")
    half = sony.rescaled(sony.full_scale_dn / 2)
    model = NoiseModel.from_preset("eld", [half])
    assert model.profiles[0].gain_min == pytest.approx(sony.gain_min)
    p = model.params_for_iso(1600)
    ref = NoiseModel.from_preset("eld", [sony]).params_for_iso(1600)
    assert torch.allclose(p.system_gain, ref.system_gain)
    assert torch.allclose(p.tukey_scale, ref.tukey_scale, rtol=1e-5)


# ------------------------------------------------------------------------- factory
def test_build_noise_model_from_config(tmp_path):
    cfg = config_from_dict(
        {"preset": "eld", "cameras": ["SonyA7S2", "nikond850"], "ratio_range": [20, 300]},
        NoiseConfig,
    )
    model = build_noise_model(cfg)
    assert model.components == PRESET_COMPONENTS[NoisePreset.ELD]
    assert [p.name for p in model.profiles] == ["SonyA7S2", "NikonD850"]
    assert model.ratio_range == (20.0, 300.0)
    custom = tmp_path / "mycam.json"
    custom.write_text(profile_to_json(load_profile("CanonEOS70D")))
    cfg = config_from_dict(
        {"components": ["poisson", "tukey"], "cameras": [str(custom)]}, NoiseConfig
    )
    model = build_noise_model(cfg)
    assert model.components == {N.POISSON, N.TUKEY}
    assert model.profiles[0].name == "CanonEOS70D"


def test_noise_config_errors():
    with pytest.raises(ConfigError, match="valid: pg, eld"):
        config_from_dict({"preset": "pgr"}, NoiseConfig)
    with pytest.raises(ConfigError, match="ratio_range"):
        config_from_dict({"ratio_range": [0.5, 2]}, NoiseConfig)
    with pytest.raises(ConfigError, match="valid keys"):
        config_from_dict({"ratios": [1, 2]}, NoiseConfig)
    with pytest.raises(ConfigError, match="valid: SonyA7S2|CanonEOS"):
        build_noise_model(NoiseConfig(cameras=("Pentax",)))


@pytest.mark.gpu
def test_synthesize_on_cuda():
    model = NoiseModel.from_preset("eld+bias", SONY)
    clean = torch.rand(2, 4, 32, 32, device="cuda")
    cpu = model.synthesize(clean.cpu(), generator=gen(3))
    pair = model.synthesize(clean, generator=gen(3))
    assert pair.noisy.device.type == "cuda" and pair.system_gain.device.type == "cuda"
    assert torch.allclose(pair.system_gain.cpu(), cpu.system_gain)
    g = torch.Generator(device="cuda").manual_seed(0)
    assert model.synthesize(clean, generator=g).noisy.device.type == "cuda"


def test_collate_pairs_keeps_params():
    model = NoiseModel.from_preset("eld", SONY)
    a = model.synthesize(torch.rand(2, 4, 8, 8), generator=gen(1))
    b = model.synthesize(torch.rand(1, 4, 8, 8), generator=gen(2))
    both = NoisyPair.collate([a, b])
    assert both.noisy.shape[0] == 3 and both.params.batch_size == 3
    assert torch.equal(both.params.system_gain, both.system_gain)
    assert (
        NoisyPair.collate([a, NoisyPair(b.noisy, b.clean, b.system_gain, b.exposure_ratio)]).params
        is None
    )
