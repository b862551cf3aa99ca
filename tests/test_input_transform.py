"""The exposure denoiser's noise-normalised (Anscombe) input and NAFNet's local pooling, as
configured: the transform's unit noise, its exact inverse, degenerate states, config errors."""

from __future__ import annotations

import math

import pytest
import torch

from expodiff.build import build_denoiser
from expodiff.config import ModelConfig
from expodiff.diffusion.process import ExposureProcess
from expodiff.kinds import InputTransform
from expodiff.nets.denoiser import ANSCOMBE_INPUT_SCALE, ExposureDenoiser
from expodiff.nets.nafnet import NAFNet


def _anscombe_model(**kwargs) -> ExposureDenoiser:
    torch.manual_seed(0)
    return build_denoiser(ModelConfig(preset="nafnet-s", input_transform="anscombe", **kwargs))


@pytest.mark.parametrize(("ratio", "gain"), [(20.0, 0.2), (100.0, 2.0), (300.0, 2.0)])
def test_the_anscombe_channel_has_unit_shot_noise_at_every_level(ratio, gain):
    """The channel the backbone sees, / ANSCOMBE_INPUT_SCALE, has std ~1 for Poisson photons
    (from 8 to 1,200 electrons a pixel here; below ~4 the Anscombe transform is not exact)."""
    process = ExposureProcess()
    model = _anscombe_model()
    clean = torch.full((1, 4, 128, 128), 0.3)
    electrons = process.electrons(clean, 1.0, ratio, gain)
    g = torch.Generator().manual_seed(1)
    state = process.from_electrons(torch.poisson(electrons, generator=g), 1.0, ratio, gain)
    level = process.photon_level(state, 1.0, ratio, gain)
    channel = model.network_input(state, level)[:, 4:] / ANSCOMBE_INPUT_SCALE
    assert abs(channel.std().item() - 1.0) < 0.05


def test_the_scale_is_recovered_exactly_and_zero_correction_keeps_the_state():
    process = ExposureProcess()
    model = _anscombe_model()
    state = torch.rand(2, 4, 16, 16) * 0.5 - 0.01
    ratio, gain = torch.tensor([100.0, 20.0]), torch.tensor([1.0, 10.0])
    level = process.photon_level(state, 3.0, ratio, gain)
    scale = model._electrons_per_unit(state, level).flatten()
    expected = process.full_scale_dn * 3.0 / (ratio * gain)
    torch.testing.assert_close(scale, expected, rtol=1e-5, atol=0)
    kept = model._add_residual(state.clamp_min(0), torch.zeros_like(state), level.clamp_min(0))
    torch.testing.assert_close(kept, state.clamp_min(0), rtol=1e-5, atol=1e-6)
    # one unit of correction is one shot-noise standard deviation: sqrt(x / s) in raw_norm
    bright = torch.full((1, 4, 4, 4), 0.25)
    lvl = process.photon_level(bright, 1.0, 100.0, 1.0)
    up = model._add_residual(bright, torch.ones_like(bright), lvl)
    sigma = math.sqrt(0.25 / (process.full_scale_dn / 100.0))
    assert abs((up - bright).mean().item() / sigma - 1.0) < 0.05


def test_a_black_state_predicts_zero_electrons_not_infinity():
    model = _anscombe_model().eval()
    zero = torch.zeros(1, 4, 16, 16)
    residual = model._add_residual(zero, torch.randn(1, 4, 16, 16), zero)
    assert torch.equal(residual.abs(), torch.zeros_like(zero))
    with torch.no_grad():
        out = model(zero, zero)
    assert out.prediction.isfinite().all()


def test_anscombe_needs_the_photon_level_and_pool_size_needs_nafnet():
    from expodiff.errors import ConfigError

    with pytest.raises(ValueError, match="anscombe needs condition_on_photons"):
        build_denoiser(
            ModelConfig(preset="nafnet-s", input_transform="anscombe", condition_on_photons=False)
        )
    with pytest.raises(ConfigError, match="pool_size applies to NAFNet presets"):
        build_denoiser(ModelConfig(preset="unet-slim", pool_size=8))
    with pytest.raises(ValueError, match="pool_size must be >= 1 or null"):
        ModelConfig(preset="nafnet-s", pool_size=0)
    assert InputTransform("anscombe") is InputTransform.ANSCOMBE


def test_pool_size_reaches_every_block_and_makes_tiles_agree():
    """With per-pixel attention (pool_size 1) the network is local: tiles whose margin covers
    the receptive field give the untiled result up to float rounding."""
    from expodiff.nets.tiling import tiled_forward

    torch.manual_seed(0)
    model = build_denoiser(ModelConfig(preset="nafnet-s", pool_size=1)).eval()
    backbone = model.backbone
    assert isinstance(backbone, NAFNet) and backbone.pool_size == 1
    for p in model.parameters():  # trained-like magnitudes: beta/gamma start at zero
        p.data.normal_(0.0, 0.3)
    state = torch.rand(1, 4, 96, 128)
    level = state * 50.0
    with torch.no_grad():
        whole = model(state, level).prediction
        tiled = tiled_forward(model, state, level, tile=64, overlap=56, margin=24).prediction
    torch.testing.assert_close(tiled, whole, rtol=1e-4, atol=1e-4)
