"""The input consistency inside the unrolled training loop (diffusion.train_input_consistency).

It must (1) be off by default and leave the objective unchanged, (2) correct every step's
prediction before its loss, (3) drive the next re-exposure from the corrected prediction,
(4) keep gradients flowing into the network, and (5) be wired from the config into the
training objective.
"""

from __future__ import annotations

import contextlib

import pytest
import torch

from expodiff.build import build_denoiser
from expodiff.config import DiffusionConfig, ModelConfig, load_config
from expodiff.diffusion.consistency import gaussian_blur, input_consistency
from expodiff.diffusion.losses import training_losses
from expodiff.diffusion.process import ExposureProcess
from expodiff.errors import ConfigError
from expodiff.nets.denoiser import DenoiserOutput
from expodiff.noise.pair import NoisyPair
from expodiff.train.objectives import supervised_loss
from torch_helpers import assert_gradients_reach_every_parameter, gen


def smooth_pair(batch: int = 2, size: int = 32, ratio: float = 3.0, gain: float = 1e-3):
    """Noise-free input of a smooth scene: the input's low band is the reference's."""
    g = gen(3)
    y = torch.linspace(0, 1, size).reshape(1, 1, size, 1)
    x = torch.linspace(0, 1, size).reshape(1, 1, 1, size)
    base = 0.2 + 0.3 * torch.rand(batch, 4, 1, 1, generator=g)
    clean = (base + 0.1 * y * x).expand(batch, 4, size, size).contiguous()
    return NoisyPair(clean.clone(), clean, torch.full((batch,), gain), torch.full((batch,), ratio))


class TooDark:
    """A dummy denoiser 30 % too dark that records the states it is shown."""

    def __init__(self, clean: torch.Tensor) -> None:
        self.clean = clean
        self.states: list[torch.Tensor] = []

    def __call__(self, state, photons, noisy):
        self.states.append(state.detach().clone())
        return DenoiserOutput(0.7 * self.clean)


def test_default_off_leaves_the_objective_unchanged():
    pair = smooth_pair()
    plain = training_losses(ExposureProcess(), TooDark(pair.clean), pair, steps=2, generator=gen())
    explicit = training_losses(
        ExposureProcess(),
        TooDark(pair.clean),
        pair,
        steps=2,
        generator=gen(),
        correct=None,
    )
    assert torch.equal(plain.total, explicit.total)
    # Off: the loss is the dark prediction's error, 0.3 * mean(clean) per step.
    want = float(0.3 * pair.clean.mean())
    for rec in plain.reconstruction:
        assert float(rec) == pytest.approx(want, rel=1e-5)


def test_correction_is_applied_before_the_loss_and_before_the_reexposure():
    pair = smooth_pair()
    off_model, on_model = TooDark(pair.clean), TooDark(pair.clean)
    off = training_losses(ExposureProcess(), off_model, pair, steps=2, generator=gen())
    on = training_losses(
        ExposureProcess(), on_model, pair, steps=2, generator=gen(), correct=input_consistency(6.0)
    )
    # Before the loss: the corrected predictions carry the input's low band, so every step's
    # loss (not only the last) collapses from 30 % of the signal to almost nothing.
    for rec_off, rec_on in zip(off.reconstruction, on.reconstruction, strict=True):
        assert float(rec_on) < 0.02 * float(rec_off)
    # The corrected prediction's low band is the input's (to the blur of the blur: ~1 %),
    # where the uncorrected one is 30 % too dark.
    low_in = gaussian_blur(pair.noisy, 6.0)
    assert float((gaussian_blur(on.prediction, 6.0) - low_in).abs().max()) < 5e-3
    assert float((gaussian_blur(off.prediction, 6.0) - low_in).abs().min()) > 0.05
    # Before the re-exposure: the second state is drawn from the corrected prediction.
    # Resample at c = 2 of r = 3: (X_T + F (c - 1)) / c at reference brightness, i.e. the
    # reference itself when F is corrected and 0.85 of it when F is 0.7 of it.
    mean = float(pair.clean.mean())
    assert float(on_model.states[1].mean()) == pytest.approx(mean, rel=0.01)
    assert float(off_model.states[1].mean()) == pytest.approx(0.85 * mean, rel=0.01)


def test_gradients_reach_every_parameter_through_the_correction():
    torch.manual_seed(0)
    model = build_denoiser(ModelConfig(preset="unet-slim", width=4))
    g = gen(4)
    clean = torch.rand(2, 4, 16, 16, generator=g)
    noisy = (clean + 0.05 * torch.randn(2, 4, 16, 16, generator=g)).clamp(0, 1)
    pair = NoisyPair(noisy, clean, torch.tensor([1.0, 3.0]), torch.tensor([100.0, 200.0]))
    out = training_losses(
        ExposureProcess(), model, pair, steps=3, generator=gen(5), correct=input_consistency(4.0)
    )
    assert_gradients_reach_every_parameter(model, out)


def test_config_option_needs_a_sigma_and_loads_strictly():
    with pytest.raises(ValueError, match="needs input_consistency_sigma"):
        DiffusionConfig(train_input_consistency=True)
    assert DiffusionConfig().train_input_consistency_sigma is None
    assert DiffusionConfig(input_consistency_sigma=8.0).train_input_consistency_sigma is None
    cfg = load_config(
        None, ["diffusion.input_consistency_sigma=8", "diffusion.train_input_consistency=true"]
    )
    assert cfg.diffusion.train_input_consistency_sigma == 8.0
    with pytest.raises(
        ConfigError, match="^diffusion: train_input_consistency needs input_consistency_sigma"
    ):
        load_config(None, ["diffusion.train_input_consistency=true"])


@pytest.mark.parametrize("train_input_consistency", [False, True])
def test_supervised_objective_passes_the_option(train_input_consistency):
    pair = smooth_pair()
    cfg = DiffusionConfig(
        train_steps=2,
        aux_weight=0.0,
        input_consistency_sigma=6.0,
        train_input_consistency=train_input_consistency,
    )
    total, parts = supervised_loss(
        ExposureProcess(),
        TooDark(pair.clean),
        pair,
        cfg,
        generator=gen(),
        autocast=contextlib.nullcontext(),
    )
    dark_error = float(0.3 * pair.clean.mean())
    if train_input_consistency:
        assert float(total) < 0.02 * dark_error
    else:  # the inference-only sigma does not enter training
        assert float(total) == pytest.approx(dark_error, rel=1e-5)
    assert set(parts) == {"loss_step1", "loss_step2"}
