"""Noise components: statistics against theory, shapes, determinism, bad input."""

from __future__ import annotations

import math

import pytest
import torch
from scipy import stats

from expodiff.noise import components as C
from torch_helpers import gen


def constant(value: float, b: int = 1, c: int = 4, h: int = 256, w: int = 256) -> torch.Tensor:
    return torch.full((b, c, h, w), float(value))


# ------------------------------------------------------------------------ shot noise
@pytest.mark.parametrize("gain", [0.5, 2.0, 7.0])
def test_poisson_shot_mean_and_variance(gain):
    signal = constant(300.0)
    noise = C.poisson_shot_noise(signal, gain, generator=gen())
    assert noise.shape == signal.shape
    assert abs(noise.mean().item()) < 0.05 * math.sqrt(gain * 300.0)
    assert noise.var().item() == pytest.approx(gain * 300.0, rel=0.03)
    # values are K times an integer count, offset by the signal
    counts = (noise + signal) / gain
    assert torch.allclose(counts, counts.round(), atol=1e-3)


def test_poisson_shot_per_sample_gain_and_negative_signal():
    signal = constant(100.0, b=3)
    signal[2] = -5.0  # below black: no photons, no shot noise
    k = torch.tensor([1.0, 4.0, 2.0])
    noise = C.poisson_shot_noise(signal, k, generator=gen(1))
    assert noise[0].var().item() == pytest.approx(100.0, rel=0.03)
    assert noise[1].var().item() == pytest.approx(400.0, rel=0.03)
    assert torch.all(noise[2] == 0)


def test_gaussian_shot_matches_poisson_moments():
    signal = constant(500.0)
    noise = C.gaussian_shot_noise(signal, 3.0, generator=gen(2))
    assert abs(noise.mean().item()) < 0.5
    assert noise.var().item() == pytest.approx(1500.0, rel=0.03)


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan")])
def test_shot_noise_rejects_bad_gain(bad):
    with pytest.raises(ValueError, match="K"):
        C.poisson_shot_noise(constant(10.0, h=4, w=4), bad)
    with pytest.raises(ValueError, match="K"):
        C.gaussian_shot_noise(constant(10.0, h=4, w=4), bad)


def test_shot_noise_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        C.poisson_shot_noise(torch.zeros(4, 8, 8), 1.0)
    with pytest.raises(ValueError, match="system_gain"):
        C.poisson_shot_noise(constant(1.0, b=2, h=4, w=4), torch.ones(3))


# ----------------------------------------------------------------------- read noise
def test_gaussian_read_noise_variance_per_sample():
    like = constant(0.0, b=2)
    noise = C.gaussian_read_noise(like.shape, torch.tensor([1.5, 4.0]), like=like, generator=gen())
    assert noise[0].std().item() == pytest.approx(1.5, rel=0.02)
    assert noise[1].std().item() == pytest.approx(4.0, rel=0.02)
    assert abs(noise.mean().item()) < 0.02


@pytest.mark.parametrize("lam", [-0.3, -0.1, -1e-9, 0.0, 1e-7, 0.14, 0.5])
def test_tukey_ppf_matches_scipy(lam):
    p = torch.tensor([1e-6, 0.001, 0.02, 0.3, 0.5, 0.77, 0.999, 1 - 1e-6], dtype=torch.float64)
    ours = C.tukey_lambda_ppf(p, lam)
    ref = torch.from_numpy(stats.tukeylambda.ppf(p.numpy(), lam))
    assert torch.allclose(ours, ref, rtol=1e-6, atol=1e-9)


def test_tukey_ppf_lambda_zero_is_logistic_exactly():
    p = torch.linspace(0.01, 0.99, 99, dtype=torch.float64)
    assert torch.equal(C.tukey_lambda_ppf(p, 0.0), torch.log(p) - torch.log1p(-p))


@pytest.mark.parametrize("lam", [-0.1, 0.0, 0.1])
def test_tukey_noise_variance_and_quantiles(lam):
    like = constant(0.0, b=1, c=4, h=512, w=512)
    scale = 2.5
    noise = C.tukey_lambda_noise(like.shape, lam, scale, like=like, generator=gen(3))
    assert torch.isfinite(noise).all()
    expected = scale**2 * C.tukey_lambda_variance(lam)
    assert noise.var().item() == pytest.approx(expected, rel=0.02)
    probs = [0.01, 0.1, 0.5, 0.9, 0.99]
    ours = torch.quantile(noise.flatten()[:1_000_000].double(), torch.tensor(probs).double())
    ref = scale * stats.tukeylambda.ppf(probs, lam)
    assert ours.numpy() == pytest.approx(ref, abs=0.03 * scale)


def test_tukey_variance_formula_matches_scipy():
    for lam in (-0.2, -0.05, 0.0, 0.1, 0.3):
        assert C.tukey_lambda_variance(lam) == pytest.approx(stats.tukeylambda.var(lam), rel=1e-6)
    assert C.tukey_lambda_variance(-0.5) == math.inf


def test_tukey_noise_per_sample_shapes():
    like = constant(0.0, b=3, h=128, w=128)
    lam = torch.tensor([0.0, -0.1, 0.1])
    scale = torch.tensor([1.0, 2.0, 3.0])
    noise = C.tukey_lambda_noise(like.shape, lam, scale, like=like, generator=gen(4))
    for i in range(3):
        expected = scale[i].item() ** 2 * C.tukey_lambda_variance(lam[i].item())
        assert noise[i].var().item() == pytest.approx(expected, rel=0.05)


# ------------------------------------------------------------------------ row noise
def test_row_noise_constant_along_rows_shared_by_row_families():
    like = constant(0.0, b=2, h=1024, w=8)
    sigma = torch.tensor([0.7, 2.0])
    rows = C.row_noise(like.shape, sigma, like=like, generator=gen(5))
    assert rows.shape == (2, 4, 1024, 1)
    full = (like + rows)[0]
    assert torch.all(full == full[..., :1])  # constant along each row
    # channels 0/1 (R, Gr) share the mosaic row, and so do 2/3 (B, Gb)
    assert torch.equal(rows[:, 0], rows[:, 1])
    assert torch.equal(rows[:, 2], rows[:, 3])
    assert not torch.equal(rows[:, 0], rows[:, 2])
    for i in range(2):
        values = torch.cat([rows[i, 0, :, 0], rows[i, 2, :, 0]])
        assert values.std().item() == pytest.approx(sigma[i].item(), rel=0.06)
    # independent across rows: neighbouring rows are uncorrelated
    r = rows[1, 0, :, 0]
    corr = torch.corrcoef(torch.stack([r[:-1], r[1:]]))[0, 1].item()
    assert abs(corr) < 0.1
    corr_fam = torch.corrcoef(torch.stack([rows[1, 0, :, 0], rows[1, 2, :, 0]]))[0, 1].item()
    assert abs(corr_fam) < 0.1


def test_row_noise_needs_packed_bayer():
    like = torch.zeros(1, 9, 8, 8)
    with pytest.raises(ValueError, match="packed Bayer"):
        C.row_noise(like.shape, 1.0, like=like)


# --------------------------------------------------------------- quantisation, bias
def test_quantization_noise_uniform_half_dn():
    like = constant(0.0)
    q = C.quantization_noise(like.shape, like=like, generator=gen(6))
    assert q.min().item() >= -0.5 and q.max().item() < 0.5
    assert q.var().item() == pytest.approx(1 / 12, rel=0.02)
    assert abs(q.mean().item()) < 0.005


def test_colour_bias_noise_shapes():
    like = constant(0.0, b=2, h=2, w=2)
    out = C.colour_bias_noise(torch.tensor([[1.0, 2, 3, 4], [5, 6, 7, 8]]), like=like)
    assert out.shape == (2, 4, 1, 1)
    assert out[1, 2, 0, 0].item() == 7.0
    assert C.colour_bias_noise(torch.tensor([1.0, 2, 3, 4]), like=like).shape == (2, 4, 1, 1)
    with pytest.raises(ValueError, match="colour_bias"):
        C.colour_bias_noise(torch.zeros(3, 4), like=like)


# ---------------------------------------------------------------------- determinism
def test_components_deterministic_with_seeded_generator():
    like = constant(50.0, b=2, h=16, w=16)
    for fn in (
        lambda g: C.poisson_shot_noise(like, 2.0, generator=g),
        lambda g: C.tukey_lambda_noise(like.shape, -0.1, 2.0, like=like, generator=g),
        lambda g: C.row_noise(like.shape, 1.0, like=like, generator=g),
        lambda g: C.quantization_noise(like.shape, like=like, generator=g),
    ):
        assert torch.equal(fn(gen(7)), fn(gen(7)))
        assert not torch.equal(fn(gen(7)), fn(gen(8)))


@pytest.mark.gpu
def test_components_on_cuda_match_cpu_generator():
    like = constant(50.0, b=2, h=16, w=16)
    cpu = C.tukey_lambda_noise(like.shape, 0.0, 2.0, like=like, generator=gen(9))
    cuda_like = like.cuda()
    out = C.tukey_lambda_noise(cuda_like.shape, 0.0, 2.0, like=cuda_like, generator=gen(9))
    assert out.device.type == "cuda"
    assert torch.allclose(out.cpu(), cpu, atol=1e-4)
    shot = C.poisson_shot_noise(cuda_like, 2.0)
    assert shot.device.type == "cuda" and shot.var().item() > 0
