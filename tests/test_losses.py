"""Training objective: Eq. 11, golden numbers with a dummy backbone, gradients, determinism."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from expodiff.build import build_denoiser
from expodiff.config import ModelConfig
from expodiff.diffusion.losses import (
    LossKind,
    auxiliary_loss,
    poisson_kl,
    reconstruction_loss,
    training_losses,
)
from expodiff.diffusion.process import ExposureProcess, Reexposure
from expodiff.eval.corrections import oracle_correction
from expodiff.nets.denoiser import DenoiserOutput, ExposureDenoiser, Prediction
from expodiff.noise.pair import NoisyPair
from torch_helpers import assert_gradients_reach_every_parameter, gen


# ------------------------------------------------------------------ Eq. 11
def test_poisson_kl_is_zero_at_the_reference_and_positive_elsewhere():
    g = gen(0)
    y = torch.rand(4, 4, 16, 16, generator=g)
    y[0, 0] = 0.0  # black pixels stay finite
    assert torch.equal(poisson_kl(y, y), torch.zeros_like(y))
    assert reconstruction_loss(y, y, LossKind.POISSON_KL) == 0
    f = torch.rand(4, 4, 16, 16, generator=g)
    kl = poisson_kl(f, y)
    assert torch.all(torch.isfinite(kl))
    assert torch.all(kl[f != y] > 0)
    assert reconstruction_loss(f, y, LossKind.POISSON_KL) > 0


def test_poisson_kl_matches_the_formula():
    f, y, eps = 0.3, 0.7, 1e-3
    expected = (f + eps) * math.log((f + eps) / (y + eps)) + y - f
    got = poisson_kl(torch.tensor(f), torch.tensor(y), eps)
    assert float(got) == pytest.approx(expected, rel=1e-6)


# ------------------------------------------------------------- golden numbers
class DummyBackbone(nn.Module):
    """Sees [state, photon_level, noisy] (C = 1) and returns the ARL's three parts:

    mask logit 0 (M = 1/2), direct X̂ = 2 * noisy - 0.1, residual R̂ = +5 on the first call
    (residual branch clip(X_t + 5) = 1) and -5 afterwards (branch = 0). No dependence on the
    random states, so the loss is hand-computable.
    """

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def forward(self, x):
        noisy = x[:, 2:3]
        resid = 5.0 if self.calls == 0 else -5.0
        self.calls += 1
        return torch.cat(
            [torch.zeros_like(noisy), 2 * noisy - 0.1, torch.full_like(noisy, resid)], dim=1
        )


def golden_pair() -> NoisyPair:
    noisy = torch.tensor([[[[0.3, 0.8]]], [[[0.1, 0.6]]]])
    clean = torch.tensor([[[[0.25, 0.5]]], [[[0.2, 0.9]]]])
    # r = 3 and 2.5 with two steps: the only integer in (1, r) is 2, so the schedule is fixed
    return NoisyPair(noisy, clean, torch.tensor([1.0, 2.0]), torch.tensor([3.0, 2.5]))


def golden_model() -> ExposureDenoiser:
    return ExposureDenoiser(
        DummyBackbone(),
        channels=1,
        condition_on_photons=True,
        condition_on_input=True,
        prediction=Prediction.FUSED,
    )


# Hand computation (M = 1/2; clip(X̂) = [0.5, 1.0] and [0.1, 1.0]):
#   step 1: F = 0.5 clip(X̂) + 0.5 * 1 = [0.75, 1.0], [0.55, 1.0]
#           L1 = (0.5 + 0.5 + 0.35 + 0.1) / 4 = 0.3625
#           aux = mean(0.5 |X̂ - Y| + 0.5 |1 - Y|) = (0.5 + 0.75 + 0.45 + 0.15) / 4 = 0.4625
#   step 2: F = 0.5 clip(X̂) + 0.5 * 0 = [0.25, 0.5], [0.05, 0.5]
#           L1 = (0 + 0 + 0.15 + 0.4) / 4 = 0.1375
#           aux = mean(0.5 |X̂ - Y| + 0.5 |0 - Y|) = (0.25 + 0.75 + 0.15 + 0.55) / 4 = 0.425
GOLDEN_F = [
    [(0.75, 0.25), (1.0, 0.5), (0.55, 0.2), (1.0, 0.9)],
    [(0.25, 0.25), (0.5, 0.5), (0.05, 0.2), (0.5, 0.9)],
]


@pytest.mark.parametrize(
    "aux_weight, step_weights, expected",
    [
        (1.0, None, (0.825 + 0.5625) / 2),  # 0.69375
        (1.0, (0.25, 0.75), 0.25 * 0.825 + 0.75 * 0.5625),  # 0.628125
        (0.5, None, ((0.3625 + 0.23125) + (0.1375 + 0.2125)) / 2),  # 0.471875
        (0.0, (1.0, 1.0), 0.3625 + 0.1375),  # 0.5
    ],
)
def test_golden_l1_training_loss(aux_weight, step_weights, expected):
    out = training_losses(
        ExposureProcess(),
        golden_model(),
        golden_pair(),
        steps=2,
        aux_weight=aux_weight,
        step_weights=step_weights,
        generator=gen(),
    )
    assert torch.equal(out.schedule, torch.tensor([[1.0, 2.0, 3.0], [1.0, 2.0, 2.5]]))
    assert float(out.reconstruction[0]) == pytest.approx(0.3625, abs=1e-6)
    assert float(out.reconstruction[1]) == pytest.approx(0.1375, abs=1e-6)
    assert float(out.auxiliary[0]) == pytest.approx(0.4625, abs=1e-6)
    assert float(out.auxiliary[1]) == pytest.approx(0.425, abs=1e-6)
    assert float(out.total) == pytest.approx(expected, abs=1e-6)
    torch.testing.assert_close(out.prediction, torch.tensor([[[[0.25, 0.5]]], [[[0.05, 0.5]]]]))


def test_golden_poisson_kl_training_loss():
    eps = 1e-3
    steps = [
        sum((f + eps) * math.log((f + eps) / (y + eps)) + y - f for f, y in pairs) / 4
        for pairs in GOLDEN_F
    ]
    out = training_losses(
        ExposureProcess(),
        golden_model(),
        golden_pair(),
        steps=2,
        loss=LossKind.POISSON_KL,
        aux_weight=0.0,
        generator=gen(),
        kl_eps=eps,
    )
    for got, want in zip(out.reconstruction, steps, strict=True):
        assert float(got) == pytest.approx(want, rel=1e-5)
    assert float(out.total) == pytest.approx(sum(steps) / 2, rel=1e-5)
    logged = out.as_dict()
    assert set(logged) >= {"loss", "loss_step0", "rec_step1", "aux_step1"}


def test_step_weights_must_match_the_steps():
    with pytest.raises(
        ValueError, match=r"step_weights needs 2 values \(one per step\), got \(3,\)"
    ):
        training_losses(
            ExposureProcess(), golden_model(), golden_pair(), steps=2, step_weights=(1.0, 2.0, 3.0)
        )


def test_auxiliary_loss_needs_the_arl_branches():
    y = torch.rand(1, 4, 4, 4)
    assert auxiliary_loss(DenoiserOutput(y), y) is None
    assert auxiliary_loss(y, y) is None


# ---------------------------------------------------------------- gradients
class FirstStepParam(nn.Module):
    """First call: prediction = a (a learnable scalar); later calls: prediction = state.

    The later steps' losses depend on ``a`` only through the Poisson re-exposure.
    """

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Parameter(torch.tensor(0.5))
        self.calls = 0

    def forward(self, state, photon_level, noisy):
        self.calls += 1
        if self.calls == 1:
            return self.a * torch.ones_like(state)
        return state


@pytest.mark.parametrize("variant", list(Reexposure))
def test_gradients_flow_through_the_poisson_draws(variant):
    clean = torch.full((2, 4, 8, 8), 0.9)
    noisy = torch.full((2, 4, 8, 8), 0.1)
    pair = NoisyPair(noisy, clean, torch.tensor([1.0, 0.5]), torch.tensor([100.0, 50.0]))
    model = FirstStepParam()
    out = training_losses(
        ExposureProcess(reexposure=variant), model, pair, steps=3, generator=gen()
    )
    (grad,) = torch.autograd.grad(out.per_step[-1], [model.a])
    assert float(grad) < 0  # a brighter first prediction brings the last state closer


def test_gradients_reach_every_parameter_from_every_step():
    torch.manual_seed(0)
    model = build_denoiser(ModelConfig(preset="unet-slim", width=4))
    g = gen(3)
    clean = torch.rand(2, 4, 16, 16, generator=g)
    noisy = (clean + 0.05 * torch.randn(2, 4, 16, 16, generator=g)).clamp(0, 1)
    pair = NoisyPair(noisy, clean, torch.tensor([1.0, 3.0]), torch.tensor([100.0, 200.0]))
    out = training_losses(ExposureProcess(), model, pair, steps=3, generator=g)
    assert_gradients_reach_every_parameter(model, out)


def test_training_losses_are_deterministic_with_a_seeded_generator():
    torch.manual_seed(0)
    model = build_denoiser(ModelConfig(preset="nafnet1"))
    g = gen(4)
    clean = torch.rand(3, 4, 12, 12, generator=g)
    pair = NoisyPair(
        clean * 0.9, clean, torch.tensor([1.0, 2.0, 4.0]), torch.tensor([100.0, 150.0, 300.0])
    )
    a = training_losses(ExposureProcess(), model, pair, generator=gen(9))
    b = training_losses(ExposureProcess(), model, pair, generator=gen(9))
    c = training_losses(ExposureProcess(), model, pair, generator=gen(10))
    assert torch.equal(a.total, b.total) and torch.equal(a.schedule, b.schedule)
    assert not torch.equal(a.schedule, c.schedule)


def test_oracle_correction_in_training_is_opt_in():
    pair = golden_pair()
    half = lambda s, p, n: DenoiserOutput(0.5 * pair.clean)  # noqa: E731
    plain = training_losses(ExposureProcess(), half, pair, steps=2, generator=gen())
    fixed = training_losses(
        ExposureProcess(),
        half,
        pair,
        steps=2,
        generator=gen(),
        correct=oracle_correction(pair.clean),
    )
    assert float(plain.total) > 0.1
    assert float(fixed.total) == pytest.approx(0.0, abs=1e-6)
