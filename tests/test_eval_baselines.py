"""Scaled input, BM3D and Anscombe-BM3D on a Poisson-Gaussian image with known parameters."""

import math

import numpy as np
import pytest
import torch

from expodiff.eval.baselines import (
    abm3d_denoise,
    bm3d_denoise,
    gat_forward,
    gat_inverse,
    plane_sigmas,
    scaled_input,
)
from expodiff.eval.metrics import psnr
from expodiff.noise.params import read_noise_std

R, K, READ, FS = 100.0, 2.0, 3.0, 15583.0


def _noisy_pair(seed=0, planes=4):
    g = np.random.default_rng(seed)
    clean = np.kron(g.random((planes, 6, 6)), np.ones((1, 8, 8))) * 0.6
    electrons = clean * FS / (R * K)
    z = g.poisson(electrons) + g.normal(0.0, READ / K, electrons.shape)
    return torch.from_numpy(z * R * K / FS), torch.from_numpy(clean)


def test_plane_sigmas_follow_the_noise_model():
    noisy, clean = _noisy_pair()
    sig = plane_sigmas(noisy, exposure_ratio=R, system_gain=K, read_std=READ, full_scale_dn=FS)
    a = R * K / FS
    for s, plane in zip(sig, clean, strict=True):
        expected = a * math.sqrt(float(plane.mean()) / a + (READ / K) ** 2)
        assert s == pytest.approx(expected, rel=0.05)
    # and they match the empirical noise level of the synthetic image
    emp = float((noisy - clean).std())
    assert np.mean(sig) == pytest.approx(emp, rel=0.1)


@pytest.mark.slow
def test_bm3d_and_abm3d_beat_the_scaled_input():
    pytest.importorskip("bm3d")
    noisy, clean = _noisy_pair(planes=1)  # one plane keeps BM3D's fixed cost down
    base = psnr(scaled_input(noisy), clean)
    kw = dict(exposure_ratio=R, system_gain=K, read_std=READ, full_scale_dn=FS)
    assert psnr(bm3d_denoise(noisy, **kw), clean) > base + 4
    assert psnr(abm3d_denoise(noisy, **kw), clean) > base + 4


def test_gat_inverse_is_unbiased_on_poisson_gaussian_data():
    g = np.random.default_rng(3)
    sigma = 1.5
    for lam in (2.0, 10.0, 50.0):
        z = g.poisson(lam, 400_000) + g.normal(0, sigma, 400_000)
        d = gat_forward(z, sigma)
        # the "denoised" value is the expectation of the transformed variable
        assert gat_inverse(np.array([d.mean()]), sigma)[0] == pytest.approx(lam, rel=0.03)


def test_read_noise_std_sums_the_configured_parts():
    class P:
        read_sigma = torch.tensor([2.0])
        tukey_shape = torch.tensor([0.0])
        tukey_scale = torch.tensor([1.0])
        row_sigma = torch.tensor([0.5])

    assert read_noise_std(P(), 0, ["poisson", "gaussian"]) == pytest.approx(2.0)
    eld = read_noise_std(P(), 0, ["poisson", "tukey", "row", "quantization"])
    assert eld == pytest.approx(math.sqrt(math.pi**2 / 3 + 0.25 + 1 / 12))
    # Tukey-lambda variance: lambda = 0.14 is close to a Gaussian of variance ~ 2.5^2 / ...
