"""A tiny model trained with ``training_losses`` on one synthetic pair drives its loss down."""

from __future__ import annotations

import pytest
import torch

from expodiff.build import build_denoiser
from expodiff.config import ModelConfig
from expodiff.diffusion.losses import training_losses
from expodiff.diffusion.process import ExposureProcess
from expodiff.noise.pair import NoisyPair

FS = 15583.0


def synthetic_pair(size: int = 24) -> NoisyPair:
    """Smooth clean raw, Poisson shot noise at r = 100 / 200 plus Gaussian read noise."""
    g = torch.Generator().manual_seed(0)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    base = 0.1 + 0.6 * (0.5 + 0.5 * torch.sin(6 * xx + 3 * yy))
    clean = torch.stack([base * s for s in (0.6, 1.0, 0.5, 1.0)]).repeat(2, 1, 1, 1)
    clean[1] = clean[1].flip(-1)
    r, k = torch.tensor([100.0, 200.0]), torch.tensor([1.0, 0.5])
    scale = (r / (k * FS)).view(-1, 1, 1, 1)  # raw_norm per electron, amplified
    electrons = torch.poisson(clean / scale, generator=g)
    noisy = (electrons + 2.0 * torch.randn(clean.shape, generator=g)) * scale
    return NoisyPair(noisy, clean, k, r)


@pytest.mark.slow
def test_tiny_model_overfits_one_pair_quickly():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: one thread is faster and immune to busy cores
    try:
        _overfit()
    finally:
        torch.set_num_threads(threads)


def _overfit():
    torch.manual_seed(0)
    pair = synthetic_pair()
    model = build_denoiser(ModelConfig(preset="unet-slim", width=8, depth=3))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    process = ExposureProcess()
    g = torch.Generator().manual_seed(1)
    history = []
    for _ in range(100):
        losses = training_losses(process, model, pair, steps=2, generator=g)
        opt.zero_grad()
        losses.total.backward()
        opt.step()
        history.append(float(losses.total.detach()))
    first, last = sum(history[:5]) / 5, sum(history[-5:]) / 5
    assert last < 0.3 * first, (first, last)
    # the enhanced output beats the noisy input
    err_out = float((losses.prediction - pair.clean).abs().mean())
    err_in = float((pair.noisy.clamp(0, 1) - pair.clean).abs().mean())
    assert err_out < err_in, (err_out, err_in)
