"""Receptive-field radius: measured per network; global pooling has none."""

from __future__ import annotations

import torch

from expodiff.build import build_denoiser
from expodiff.config import ModelConfig
from expodiff.nets.receptive import receptive_radius
from expodiff.nets.tiling import tiled_forward
from torch_helpers import assert_close_across_paths


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


def test_a_local_window_has_a_radius_that_grows_with_it_and_tiles_agree():
    """NAFNet's test-time local converter (``pool_size`` > 1): its running sums do not leak
    beyond the window, so the radius is finite, grows with the window, and tiles with margins
    of the radius give the untiled result."""
    torch.manual_seed(2)
    model = build_denoiser(ModelConfig(preset="nafnet-s", pool_size=8)).eval()
    for p in model.parameters():
        p.data.normal_(0.0, 0.2)
    radii = {}
    for size in (1, 8, 16):
        model.backbone.set_pool_size(size)
        radii[size] = receptive_radius(model)
    assert None not in radii.values() and radii[1] < radii[8] < radii[16], radii
    model.backbone.set_pool_size(8)
    radius = radii[8]
    # float64: the random weights amplify float32 rounding (outputs of ~1e3 before the clip)
    # far beyond float32 tolerances; in float64 only a structural difference would show
    model.double()
    state = torch.rand(1, 4, 200, 232, dtype=torch.float64)
    with torch.no_grad():
        whole = model(state, state * 40).prediction
        tiled = tiled_forward(
            model, state, state * 40, tile=2 * (2 * radius + 8), overlap=2 * radius + 8,
            margin=radius,
        ).prediction  # fmt: skip
    assert_close_across_paths(tiled, whole.float())  # the tiler blends in float32


def test_the_local_mean_is_the_mean_of_the_window():
    from expodiff.nets.nafnet import _local_mean

    x = torch.rand(2, 3, 48, 72, dtype=torch.float32)
    out = _local_mean(x, 8)
    # an interior pixel: the mean of the 8 x 8 window from 3 pixels above/left of it to 4
    # below/right (rows 17..24, columns 27..34 for the output at (20, 30))
    window = x[..., 17:25, 27:35].double().mean((-2, -1))
    torch.testing.assert_close(out[..., 20, 30].double(), window, rtol=1e-5, atol=1e-6)
    assert out.shape == x.shape and out.dtype == x.dtype
    # in cells of 4 x 4 pixels: 2 x 2 cells from the pixel's cell on, the same for every
    # pixel of the cell (pixel (20, 30) lies in cell (5, 7); an even window starts at the
    # cell itself: cells 5..6 x 7..8, pixels 20..27 x 28..35)
    cells = _local_mean(x, 8, block=4)
    window = x[..., 20:28, 28:36].double().mean((-2, -1))
    torch.testing.assert_close(cells[..., 20, 30].double(), window, rtol=1e-5, atol=1e-6)
    assert torch.equal(cells[..., 20:24, 28:32], cells[..., 20:21, 28:29].expand(2, 3, 4, 4))
