"""Backbones, the exposure denoiser (conditioning, ARL), presets, sizes and the models CLI."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from expodiff.build import build_denoiser, resolve_preset
from expodiff.cli import main as cli_main
from expodiff.config import ModelConfig
from expodiff.errors import ConfigError
from expodiff.kinds import Backbone
from expodiff.nets.denoiser import ExposureDenoiser, Prediction, pad_to_multiple
from expodiff.nets.flops import (
    ParameterConvention,
    count_macs,
    count_parameters,
    macs_per_megapixel,
)
from expodiff.nets.nafnet import NAFNet
from expodiff.nets.registry import PRESETS
from expodiff.nets.unet import SIDUNet

PAPER = {"unet": 7.76e6, "nafnet1": 4.7e3, "nafnet2": 6.87e6}


# ------------------------------------------------------------------ sizes
@pytest.mark.parametrize("name", sorted(PAPER))
def test_paper_presets_match_the_paper_parameter_counts(name):
    """Counted as the paper does (thop: conv/linear layers), within 1 %."""
    model = build_denoiser(ModelConfig(preset=name))
    assert model.in_channels == 8 and model.out_channels == 9  # photons + ARL on Bayer
    n = count_parameters(model, "paper")
    assert abs(n - PAPER[name]) / PAPER[name] < 0.01, n
    assert PRESETS[name].paper_params == PAPER[name]


def test_full_parameter_counts_are_documented_values():
    """All trainable parameters: NAFNet adds LayerNorm affines and beta/gamma (2 C + 2 C per
    block) that thop does not count; the U-Net has only convolutions."""
    counts = {n: count_parameters(build_denoiser(ModelConfig(preset=n))) for n in PAPER}
    assert counts == {"unet": 7_761_801, "nafnet1": 4_793, "nafnet2": 6_897_865}
    assert count_parameters(build_denoiser(ModelConfig(preset="nafnet1")), "paper") == 4_697
    nafnet1 = build_denoiser(ModelConfig(preset="nafnet1"))
    assert count_parameters(nafnet1, ParameterConvention.PAPER) == 4_697
    with pytest.raises(ValueError, match="convention must be one of all, paper, got 'bogus'"):
        count_parameters(nn.Linear(2, 2), "bogus")


def test_macs_per_megapixel_by_hand_for_nafnet1():
    """Per packed pixel: intro 8*16*9, block 16*32 + 32*9 + 16*16 + 16*32 + 16*16, ending
    16*9*9 = 4272 MACs; a packed pixel is 4 mosaic pixels. (The attention's 1x1 conv on the
    pooled vector is a per-image constant and not per pixel.)"""
    model = build_denoiser(ModelConfig(preset="nafnet1"))
    assert macs_per_megapixel(model) == pytest.approx(4272 / 4 * 1e6)
    x = torch.zeros(1, 4, 10, 10)
    assert count_macs(model, x, x, x) == 4272 * 100 + 16 * 16  # + the pooled 1x1 conv


def test_macs_count_transposed_convolutions():
    up = nn.ConvTranspose2d(3, 5, 2, stride=2)
    x = torch.zeros(1, 3, 4, 4)
    assert count_macs(up, x) == 3 * 16 * 5 * 4


# ---------------------------------------------------------------- backbones
@pytest.mark.parametrize("name", list(PRESETS))
@pytest.mark.parametrize("size", [(37, 53), (5, 3), (16, 16)])
def test_any_input_size_works(name, size):
    if name in ("unet", "nafnet2") and size == (37, 53):
        size = (21, 19)  # keep the big presets quick
    model = build_denoiser(ModelConfig(preset=name)).eval()
    x = torch.rand(2, 4, *size)
    with torch.no_grad():
        out = model(x, x * 0.01)
    assert out.prediction.shape == x.shape
    assert float(out.prediction.min()) >= 0 and float(out.prediction.max()) <= 1
    assert out.mask.shape == (2, 1, *size)


def test_pad_to_multiple():
    x = torch.arange(15.0).view(1, 1, 3, 5)
    y, (h, w) = pad_to_multiple(x, 4)
    assert y.shape == (1, 1, 4, 8) and (h, w) == (3, 5)
    assert torch.equal(y[..., :3, :5], x)
    z, _ = pad_to_multiple(torch.rand(1, 1, 2, 2), 16)  # too small to reflect
    assert z.shape == (1, 1, 16, 16)
    same, _ = pad_to_multiple(x, 1)
    assert same is x


def test_backbones_reject_sizes_off_their_stride():
    with pytest.raises(ValueError, match="input size 5x6 is not a multiple of the stride 2"):
        SIDUNet(4, 4, (8, 16))(torch.rand(1, 4, 5, 6))
    with pytest.raises(ValueError, match="input size 5x6 is not a multiple of the stride 2"):
        NAFNet(4, 4, 8, (1,), 1, (1,))(torch.rand(1, 4, 5, 6))
    with pytest.raises(
        ValueError, match=r"enc_blocks \(1, 1\) and dec_blocks \(1,\) need the same"
    ):
        NAFNet(4, 4, 8, (1, 1), 1, (1,))


def test_unet_structure_matches_sid():
    net = SIDUNet(8, 9)
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    ups = [m for m in net.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert [c.out_channels for c in convs[:10:2]] == [32, 64, 128, 256, 512]
    assert [u.out_channels for u in ups] == [256, 128, 64, 32]
    assert all(u.kernel_size == (2, 2) and u.stride == (2, 2) for u in ups)
    assert net.stride == 16 and convs[-1].kernel_size == (1, 1)


def test_nafnet_local_pool_equals_global_when_the_window_covers_the_input():
    torch.manual_seed(0)
    net = NAFNet(4, 4, 8, (1,), 1, (1,)).eval()
    for p in net.parameters():  # make the blocks active (beta/gamma start at zero)
        nn.init.normal_(p, std=0.2)
    x = torch.rand(1, 4, 16, 24)
    with torch.no_grad():
        a = net(x)
        net.set_pool_size(64)
        b = net(x)
        net.set_pool_size(8)
        c = net(x)
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, c)
    with pytest.raises(ValueError, match="pool_size must be >= 1 or None, got 0"):
        net.set_pool_size(0)


def test_channels_last_gives_the_same_result():
    torch.manual_seed(0)
    model = build_denoiser(ModelConfig(preset="unet-slim")).eval()
    x = torch.rand(1, 4, 32, 40)
    with torch.no_grad():
        a = model(x, x).prediction
        b = model.to_channels_last()(x, x).prediction
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


# ------------------------------------------------------------- denoiser head
class Fixed(nn.Module):
    """A 'backbone' returning a fixed output whatever the input."""

    def __init__(self, y: torch.Tensor) -> None:
        super().__init__()
        self.y = y
        self.seen = None

    def forward(self, x):
        self.seen = x
        return self.y


def test_fused_head_is_eq_12():
    c = 2
    g = torch.Generator().manual_seed(0)
    y = torch.randn(1, 2 * c + 1, 3, 3, generator=g) * 2
    state = torch.rand(1, c, 3, 3, generator=g)
    model = ExposureDenoiser(Fixed(y), channels=c, condition_on_photons=False)
    out = model(state)
    m = torch.sigmoid(y[:, :1])
    xhat, rhat = y[:, 1 : 1 + c], y[:, 1 + c :]
    expected = m * xhat.clamp(0, 1) + (1 - m) * (state + rhat).clamp(0, 1)
    torch.testing.assert_close(out.prediction, expected)
    torch.testing.assert_close(out.mask, m)
    torch.testing.assert_close(out.direct, xhat)  # unclipped, for the auxiliary loss
    torch.testing.assert_close(out.residual, (state + rhat).clamp(0, 1))


def test_direct_and_residual_heads_clip_with_straight_through_gradients():
    y = torch.tensor([[[[-0.5, 0.5, 1.5]]]], requires_grad=True)
    state = torch.full((1, 1, 1, 3), 0.25)
    direct = ExposureDenoiser(
        Fixed(y), 1, condition_on_photons=False, prediction=Prediction.DIRECT
    )(state)
    assert torch.equal(direct.prediction.detach(), torch.tensor([[[[0.0, 0.5, 1.0]]]]))
    assert direct.mask is None
    direct.prediction.sum().backward()
    assert torch.equal(y.grad, torch.ones_like(y))
    resid = ExposureDenoiser(
        Fixed(y.detach()), 1, condition_on_photons=False, prediction="residual"
    )(state)
    torch.testing.assert_close(resid.prediction, torch.tensor([[[[0.0, 0.75, 1.0]]]]))


@pytest.mark.parametrize(
    "photons, origin, n_in",
    [(True, False, 8), (False, False, 4), (True, True, 12), (False, True, 8)],
)
def test_conditioning_channels(photons, origin, n_in):
    state, photon, noisy = (torch.full((1, 4, 2, 2), v) for v in (0.1, 0.2, 0.3))
    backbone = Fixed(torch.zeros(1, 9, 2, 2))
    model = ExposureDenoiser(backbone, 4, condition_on_photons=photons, condition_on_input=origin)
    assert model.in_channels == n_in
    model(state, photon, noisy)
    expected = [state] + ([photon] if photons else []) + ([noisy] if origin else [])
    assert torch.equal(backbone.seen, torch.cat(expected, 1))


def test_denoiser_input_validation():
    model = ExposureDenoiser(Fixed(torch.zeros(1, 9, 2, 2)), 4, condition_on_input=True)
    x = torch.zeros(1, 4, 2, 2)
    with pytest.raises(ValueError, match="condition_on_input needs noisy of the state's shape"):
        model(x, x)  # noisy missing
    with pytest.raises(ValueError, match="photon_level of the state's shape is required"):
        model(x, None, x)  # photon map missing
    with pytest.raises(ValueError, match=r"state must be \(B, 4, H, W\), got \(1, 3, 2, 2\)"):
        model(torch.zeros(1, 3, 2, 2), x, x)
    bad = ExposureDenoiser(Fixed(torch.zeros(1, 4, 2, 2)), 4)
    with pytest.raises(ValueError, match="backbone returned 4 channels, 9 expected"):
        bad(x, x)


# ------------------------------------------------------------------ registry
def test_build_denoiser_applies_overrides_and_options():
    m = build_denoiser(
        ModelConfig(
            preset="unet", width=8, depth=3, condition_on_input=True, prediction=Prediction.DIRECT
        ),
        channels=9,
    )
    assert m.in_channels == 27 and m.out_channels == 9 and m.stride == 4
    assert m.backbone.widths == (8, 16, 32)
    n = build_denoiser(
        ModelConfig(preset="nafnet2", width=8, enc_blocks=(1,), dec_blocks=(1,), middle_blocks=0)
    )
    assert n.backbone.width == 8 and n.stride == 2
    assert resolve_preset(ModelConfig(preset="nafnet2", width=8)).paper_params is None


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_each_preset_builds_the_network_of_its_backbone_kind(name):
    preset = PRESETS[name]
    assert isinstance(preset.backbone, Backbone)
    network = {Backbone.UNET: SIDUNet, Backbone.NAFNET: NAFNet}[preset.backbone]
    assert isinstance(build_denoiser(ModelConfig(preset=name)).backbone, network)


@pytest.mark.parametrize(
    "cfg, words, problem",
    [
        (
            ModelConfig(preset="resnet"),
            ["resnet", "unet", "nafnet2"],
            "^unknown model preset 'resnet'; valid presets: ",
        ),
        (
            ModelConfig(preset="unet", enc_blocks=(1, 1)),
            ["enc_blocks", "unet"],
            "^model.enc_blocks does not apply to preset 'unet'",
        ),
        (
            ModelConfig(preset="nafnet1", depth=3),
            ["depth", "nafnet1"],
            "^model.depth does not apply to preset 'nafnet1'",
        ),
        (
            ModelConfig(preset="nafnet2", enc_blocks=(1,)),
            ["enc_blocks", "dec_blocks"],
            r"^model.enc_blocks \[1\] and model.dec_blocks .* must have the same length",
        ),
        (
            ModelConfig(preset="unet", width=0),
            ["width"],
            "^model.width and model.depth must be >= 1",
        ),
    ],
)
def test_build_denoiser_errors_name_the_problem(cfg, words, problem):
    with pytest.raises(ConfigError, match=problem) as err:
        build_denoiser(cfg)
    assert all(w in str(err.value) for w in words), str(err.value)


# ----------------------------------------------------------------------- CLI
@pytest.mark.slow
def test_models_cli_json(capsys):
    assert cli_main(["models", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == list(PRESETS)
    for r in rows:
        assert set(r) >= {"name", "params", "gflops_per_mp"}
        assert isinstance(r["params"], int) and r["gflops_per_mp"] > 0
    by_name = {r["name"]: r for r in rows}
    assert by_name["nafnet1"]["params"] == 4793
    assert by_name["nafnet1"]["gflops_per_mp"] == pytest.approx(2 * 4272 / 4 / 1e3, abs=1e-3)


@pytest.mark.slow
def test_models_cli_table(capsys):
    assert cli_main(["models"]) == 0
    out = capsys.readouterr().out
    assert "nafnet2" in out and "7,761,801" in out and "GFLOP/MP" in out


def test_for_inference_prepares_the_model():
    model = build_denoiser(ModelConfig(preset="nafnet1")).for_inference()
    assert not model.training and model.channels_last
    assert not any(p.requires_grad for p in model.parameters())
    x = torch.rand(1, 4, 9, 11)
    assert model(x, x).prediction.shape == x.shape
    assert not build_denoiser(ModelConfig(preset="nafnet1")).for_inference(False).channels_last
