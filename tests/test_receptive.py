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


def _local_model_folder(folder, pool_size):
    from enhance_helpers import TEST_CONFIG
    from expodiff.config import ExperimentConfig
    from expodiff.io.modelfiles import save_denoiser

    config = ExperimentConfig(
        noise=TEST_CONFIG.noise, model=ModelConfig(preset="nafnet-s", pool_size=pool_size)
    )
    torch.manual_seed(0)
    model = build_denoiser(config.model)
    for p in model.parameters():  # blocks switched on, far pixels reaching the output
        p.data.normal_(0.0, 0.2)
    return save_denoiser(folder, model, config, overwrite=True)


def test_enhance_tiles_a_local_model_seamlessly_and_a_global_one_as_before(tmp_path):
    """Through the API at S = 1: the default tiling of a per-pixel-attention model equals
    tile=0 up to float rounding; a globally pooled model keeps the default overlap."""
    import expodiff

    g = torch.Generator().manual_seed(3)
    dark = torch.rand(4, 300, 340, generator=g) * 0.01
    kw = {"ratio": 50.0, "system_gain": 1.0, "steps": 1, "seed": 0, "tile": 128}
    local = _local_model_folder(tmp_path / "local", 1)
    tiled = expodiff.enhance(dark, model=local, **kw).raw_norm
    whole = expodiff.enhance(dark, model=local, **{**kw, "tile": 0}).raw_norm
    assert (tiled - whole).abs().max() < 1e-4
    from expodiff.build import load_denoiser
    from expodiff.inference.trajectories import _seamless_overlap, tile_overlap

    net, _ = load_denoiser(local)
    assert _seamless_overlap(net, 512) == (2 * receptive_radius(net) + 16, receptive_radius(net))
    state = dark[None] * 50.0  # the same network with the old fixed overlap has seams
    with torch.no_grad():
        seams = tiled_forward(net, state, state * 30, tile=96, overlap=24, margin=6).prediction
        assert (seams - net(state, state * 30).prediction).abs().max() > 1e-3
    pooled, _ = load_denoiser(_local_model_folder(tmp_path / "pooled", None))
    assert _seamless_overlap(pooled, 512) == (tile_overlap(512), None)
