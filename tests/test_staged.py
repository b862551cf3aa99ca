"""Staged NAFNet (global middle blocks only) and its seamless tiles."""

from __future__ import annotations

import pytest
import torch

from expodiff.build import build_denoiser
from expodiff.config import ModelConfig
from expodiff.nets.receptive import stage_radii
from expodiff.nets.staged import StagedTiledDenoiser, core_spans
from torch_helpers import assert_close_across_paths


def _staged(seed: int = 0, pool_size: int = 16):
    torch.manual_seed(seed)
    model = build_denoiser(ModelConfig(preset="nafnet-s", pool_size=pool_size, global_middle=True))
    for p in model.parameters():  # beta/gamma start at zero, which would hide the blocks
        p.data.normal_(0.0, 0.2)
    return model.eval()


def test_windows_scale_with_the_resolution_every_block_runs_at():
    """Encoder and decoder blocks at the same resolution pool over the same window: the
    decoders run from the coarsest level up (a regression: they were given the windows of the
    mirrored level, whose cells are not aligned to the network's stride)."""
    net = build_denoiser(ModelConfig(preset="nafnet-s", pool_size=32)).backbone
    sizes = [(b.sca.pool_size, b.sca.pool_block) for lv in net._levels() for b in lv]
    assert sizes == [(32, 4), (16, 2), (8, 1), (8, 1), (16, 2), (32, 4)]
    staged = build_denoiser(ModelConfig(preset="nafnet-s", pool_size=32, global_middle=True))
    assert [b.sca.pool_size for b in staged.backbone.middle] == [None, None]
    assert staged.backbone.staged and staged.backbone.global_pooling
    assert not net.staged


def test_a_local_net_equals_itself_under_shifts_by_the_stride():
    """Windows in whole cells of the coarsest grid: a crop starting at a multiple of the stride
    (not of twice it) gives the frame's result away from its borders."""
    model = _staged(pool_size=32).double()
    model.backbone.set_pool_size(32)  # fully local
    x = torch.rand(
        1,
        model.in_channels,
        96,
        132,
        dtype=torch.float64,
        generator=torch.Generator().manual_seed(1),
    )
    with torch.no_grad():
        whole = model.backbone(x)
        shifted = model.backbone(x[..., :, 4:])
    r = 60  # beyond the receptive radius of both crops' borders
    torch.testing.assert_close(shifted[..., r:-r, r : r + 4], whole[..., r:-r, r + 4 : r + 8])


def test_global_middle_needs_a_pool_size():
    with pytest.raises(ValueError, match="global_middle needs a pool_size"):
        ModelConfig(preset="nafnet-s", global_middle=True)


def test_encode_middle_decode_is_the_forward():
    model = _staged()
    x = torch.rand(2, model.in_channels, 32, 48)
    with torch.no_grad():
        features = model.backbone.encode(x)
        assert [f.shape[-1] for f in features] == [48, 24, 12]
        features[-1] = model.backbone.middle(features[-1])
        assert torch.equal(model.backbone.decode(features), model.backbone(x))


def test_stage_radii_are_finite_and_larger_at_the_border():
    radii = stage_radii(_staged())
    assert radii is not None
    assert 4 <= radii.encoder <= radii.encoder_border < 96
    assert 4 <= radii.decoder <= radii.decoder_border < 96
    local = _staged()
    local.backbone.set_pool_size(16)
    assert stage_radii(local) is None  # not staged


@pytest.mark.parametrize("size", [40, 96, 200, 516])
def test_core_spans_partition_the_axis_with_margins(size):
    tile, margin, multiple, border = 96, 20, 4, 30
    spans = core_spans(size, tile, margin, multiple, border)
    covered = []
    for start, length, core, core_length in spans:
        assert length <= tile or len(spans) == 1
        assert start % multiple == 0 and core % multiple == 0 and core_length > 0
        assert start <= core and core + core_length <= start + length <= size
        if start > 0:  # an inner edge: the core keeps the margin from it
            assert core - start >= margin
        if start + length < size:
            assert start + length - (core + core_length) >= margin
        if start == 0 or start + length == size:  # a tile at a border holds the border reach
            assert length > border or len(spans) == 1
        covered += range(core, core + core_length)
    assert covered == list(range(size))
    with pytest.raises(ValueError, match="too small"):
        core_spans(400, 40, 20, 4)


@pytest.mark.parametrize("channels_last", [False, True])
def test_staged_tiles_equal_the_whole_frame_at_every_tile_size(channels_last):
    """The encoder and decoder in tiles with margins of their radii, the middle (global
    attention) on the whole frame: the untiled result, at any tile size and frame size."""
    model = _staged(seed=3).double()
    model.for_inference(channels_last=channels_last)
    radii = stage_radii(model)
    g = torch.Generator().manual_seed(4)
    state = torch.rand(1, 4, 150, 203, dtype=torch.float64, generator=g)
    with torch.no_grad():
        whole = model(state, state * 30)
        for tile in (96, 128, 200):
            tiled = StagedTiledDenoiser(model, tile, radii)
            assert tiled.tiles(150, 203) > 2
            out = tiled(state, state * 30)
            assert_close_across_paths(out.prediction, whole.prediction)
            assert_close_across_paths(out.mask, whole.mask)


def test_enhance_tiles_a_staged_model_seamlessly(tmp_path):
    """Through the API at S = 1: the default tiling of a staged model equals tile=0."""
    import expodiff
    from enhance_helpers import TEST_CONFIG
    from expodiff.config import ExperimentConfig
    from expodiff.inference.trajectories import tiled
    from expodiff.io.modelfiles import save_denoiser

    model = _staged(seed=5)
    config = ExperimentConfig(
        noise=TEST_CONFIG.noise,
        model=ModelConfig(preset="nafnet-s", pool_size=16, global_middle=True),
    )
    folder = save_denoiser(tmp_path / "staged", model, config, overwrite=True)
    assert isinstance(tiled(model, torch.Size([1, 4, 300, 340]), 128), StagedTiledDenoiser)
    dark = torch.rand(4, 300, 340, generator=torch.Generator().manual_seed(6)) * 0.01
    kw = {"ratio": 50.0, "system_gain": 1.0, "steps": 1, "seed": 0, "tile": 128}
    tiled_out = expodiff.enhance(dark, model=folder, **kw).raw_norm
    whole = expodiff.enhance(dark, model=folder, **{**kw, "tile": 0}).raw_norm
    assert (tiled_out - whole).abs().max() < 1e-4
    from expodiff.errors import ExpodiffError

    with pytest.raises(ExpodiffError, match="tile 64 is too small .* at least 68, or 0"):
        expodiff.enhance(dark, model=folder, **{**kw, "tile": 64})


def test_a_staged_network_gets_larger_default_tiles():
    """tile=None: STAGED_TILE for a staged network (its tiles carry margins of its radii),
    TILE for any other; an explicit tile is kept."""
    from expodiff.defaults import STAGED_TILE, TILE
    from expodiff.inference.trajectories import tiled

    model = _staged(seed=2)
    assert tiled(model, torch.Size([1, 4, STAGED_TILE, 64])) is model  # fits one tile
    big = tiled(model, torch.Size([1, 4, STAGED_TILE + 8, 64]))
    assert isinstance(big, StagedTiledDenoiser) and big.tile == STAGED_TILE
    assert tiled(model, torch.Size([1, 4, STAGED_TILE + 8, 64]), 256).tile == 256
    plain = build_denoiser(ModelConfig(preset="nafnet-s", pool_size=16)).eval()
    assert tiled(plain, torch.Size([1, 4, TILE + 8, 64])).tile == TILE


def test_the_strip_probe_equals_a_square_probe():
    """stage_radii probes a strip (square kernels and windows reach as far along rows as along
    columns); a square probe of the same network, from a centre cell and from a corner cell,
    finds the same radii."""
    import copy

    from expodiff.nets.receptive import _reach

    model = _staged(seed=7, pool_size=32)
    strip = stage_radii(model, side=192)
    backbone = copy.deepcopy(model.backbone).double()
    side, n = 192, backbone.stride
    x = torch.rand(1, model.in_channels, side, side, dtype=torch.float64)
    shapes = [f.shape for f in backbone.encode(x)]
    factors = [side // s[-1] for s in shapes]
    found = []
    for c in (side // 2, 0):
        probe = x.clone().requires_grad_(True)
        cell = [f[0, :, c // k : (c + n) // k, c // k : (c + n) // k] for f, k in zip(
            backbone.encode(probe), factors, strict=True)]  # fmt: skip
        sum(t.sum() for t in cell).backward()
        inputs = [torch.rand(s, dtype=torch.float64, requires_grad=True) for s in shapes]
        backbone.decode(inputs)[0, :, c : c + n, c : c + n].sum().backward()
        found += [_reach([probe.grad], [1], c, n), _reach([t.grad for t in inputs], factors, c, n)]
    assert strip is not None
    assert [strip.encoder, strip.decoder, strip.encoder_border, strip.decoder_border] == found
