"""Metrics on the packed raw: PSNR by hand, SSIM against scikit-image, GT brightness correction."""

import math

import numpy as np
import pytest
import torch

from expodiff.eval.metrics import brightness_correct, image_metrics, psnr, ssim


def test_psnr_by_hand():
    ref = torch.full((4, 8, 8), 0.5)
    pred = ref.clone()
    pred[0, 0, 0] = 0.75  # one pixel off by 0.25 (exact in binary) out of 256 values
    mse = 0.25**2 / 256
    assert psnr(pred, ref) == pytest.approx(10 * math.log10(1 / mse), abs=1e-6)
    assert psnr(ref, ref) == math.inf


def test_psnr_clips_to_unit_range():
    ref = torch.ones(4, 8, 8)
    assert psnr(torch.full((4, 8, 8), 3.0), ref) == math.inf  # 3 clips to 1
    assert psnr(torch.full((4, 8, 8), -1.0), torch.zeros(4, 8, 8)) == math.inf


def test_ssim_matches_scikit_image():
    skm = pytest.importorskip("skimage.metrics")
    g = torch.Generator().manual_seed(1)
    ref = torch.rand(4, 40, 33, generator=g)
    pred = (ref + 0.1 * torch.randn(4, 40, 33, generator=g)).clamp(0, 1)
    expected = skm.structural_similarity(
        ref.permute(1, 2, 0).double().numpy(),
        pred.permute(1, 2, 0).double().numpy(),
        data_range=1.0,
        channel_axis=-1,
    )
    assert ssim(pred, ref) == pytest.approx(expected, abs=1e-12)
    assert ssim(ref, ref) == pytest.approx(1.0)


def test_ssim_rejects_tiny_images():
    with pytest.raises(ValueError, match="at least 7x7"):
        ssim(torch.zeros(4, 5, 9), torch.zeros(4, 5, 9))


def test_brightness_correction_recovers_a_scaled_prediction():
    g = torch.Generator().manual_seed(0)
    ref = torch.rand(4, 16, 16, generator=g) * 0.9
    ref[0, 0, 0] = 1.0  # saturated pixels are excluded from the fit
    pred = ref * 0.5
    pred[0, 0, 0] = 0.1
    out = brightness_correct(pred, ref)
    mask = ref < 1
    assert torch.allclose(out[mask], ref[mask], atol=1e-6)
    m = image_metrics(pred, ref)
    assert m["psnr_gt"] > m["psnr"] + 10
    assert set(m) == {"psnr", "ssim", "psnr_gt", "ssim_gt"}


def test_brightness_correction_of_zero_prediction_is_identity():
    ref = torch.rand(4, 8, 8)
    out = brightness_correct(torch.zeros(4, 8, 8), ref)
    assert torch.equal(out, torch.zeros(4, 8, 8))


def test_shape_errors():
    with pytest.raises(ValueError, match="differ"):
        psnr(torch.zeros(4, 8, 8), torch.zeros(4, 8, 9))
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        psnr(torch.zeros(1, 4, 8, 8), torch.zeros(1, 4, 8, 8))
    assert np.isfinite(psnr(torch.zeros(4, 8, 8), torch.ones(4, 8, 8)))
