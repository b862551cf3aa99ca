"""Receptive-field radius: measured per network; global pooling has none."""

from __future__ import annotations

import torch

from expodiff.build import build_denoiser
from expodiff.config import ModelConfig
from expodiff.nets.receptive import receptive_radius
from expodiff.nets.tiling import tiled_forward


def test_local_nafnet_has_a_finite_radius_and_global_pooling_has_none():
    torch.manual_seed(0)
    local = build_denoiser(ModelConfig(preset="nafnet-s", pool_size=1))
    for p in local.parameters():  # beta/gamma start at zero, which would hide the blocks
        p.data.normal_(0.0, 0.2)
    radius = receptive_radius(local)
    assert radius is not None and 8 <= radius <= 40
    pooled = build_denoiser(ModelConfig(preset="nafnet-s"))
    for p in pooled.parameters():
        p.data.normal_(0.0, 0.2)
    assert receptive_radius(pooled) is None
    one = build_denoiser(ModelConfig(preset="nafnet1"))
    for p in one.parameters():
        p.data.normal_(0.0, 0.2)
    assert receptive_radius(one) is None  # one block with global attention


def test_a_margin_of_the_radius_makes_tiles_agree():
    torch.manual_seed(1)
    model = build_denoiser(ModelConfig(preset="nafnet-s", pool_size=1)).eval()
    for p in model.parameters():
        p.data.normal_(0.0, 0.2)
    radius = receptive_radius(model)
    state = torch.rand(1, 4, 128, 160)
    with torch.no_grad():
        whole = model(state, state * 40).prediction
        tiled = tiled_forward(
            model, state, state * 40, tile=96, overlap=2 * radius + 8, margin=radius
        ).prediction
    torch.testing.assert_close(tiled, whole, rtol=1e-5, atol=2e-5)
