"""Low-frequency consistency: a ground-truth-free correction of the prediction's low band."""

import pytest
import torch

from expodiff.diffusion import ExposureProcess, sample
from expodiff.diffusion.consistency import (
    gaussian_blur,
    input_consistency,
    low_frequency_consistency,
)


def test_gaussian_blur_preserves_constants_and_mass():
    x = torch.full((2, 4, 9, 13), 0.3)
    assert torch.allclose(gaussian_blur(x, 2.0), x, atol=1e-6)
    # A small image (radius larger than the side) still works.
    assert gaussian_blur(torch.rand(1, 1, 3, 3), 4.0).shape == (1, 1, 3, 3)
    impulse = torch.zeros(1, 1, 31, 31)
    impulse[..., 15, 15] = 1.0
    blurred = gaussian_blur(impulse, 2.0)
    assert blurred.sum().item() == pytest.approx(1.0, abs=1e-5)
    # Spread matches the standard deviation: E[dx^2] = sigma^2.
    dx = torch.arange(31.0) - 15
    var = float((blurred[0, 0].sum(0) * dx**2).sum())
    assert var == pytest.approx(4.0, rel=0.05)
    with pytest.raises(ValueError, match="sigma_px"):
        gaussian_blur(impulse, 0.0)
    with pytest.raises(ValueError, match="sigma_px"):
        gaussian_blur(impulse, float("inf"))


def test_gaussian_blur_gives_border_pixels_no_extra_weight():
    """A huge sigma is a plain frame average (every pixel weighs the same, the corners too),
    and costs no more than a frame-wide kernel."""
    x = torch.rand(1, 2, 16, 24, generator=torch.Generator().manual_seed(1))
    for sigma in (50.0, 1e6):
        blurred = gaussian_blur(x, sigma)
        mean = x.mean(dim=(-2, -1), keepdim=True).expand_as(x)
        assert torch.allclose(blurred, mean, atol=2e-3)
    # Weight of the corner pixel in the centre pixel's average, at a moderate sigma.
    impulse = torch.zeros(1, 1, 16, 16)
    impulse[..., 0, 0] = 1.0
    assert gaussian_blur(impulse, 8.0)[0, 0, 8, 8] < 2 / 256
    # bf16 in, bf16 out (computed in fp32).
    assert gaussian_blur(x.bfloat16(), 2.0).dtype == torch.bfloat16


def test_restores_input_low_frequencies_and_keeps_detail():
    g = torch.Generator().manual_seed(0)
    clean = 0.2 + 0.1 * torch.rand(1, 4, 64, 64, generator=g)
    noisy = clean + 0.05 * torch.randn(1, 4, 64, 64, generator=g)
    biased = 0.7 * clean  # a network that is too dark by 30 %
    fixed = low_frequency_consistency(biased, noisy, 100.0, input_consistency_sigma=8.0)
    err_before = (biased - clean).abs().mean()
    err_after = (fixed - clean).abs().mean()
    assert err_after < 0.25 * err_before
    # Per-channel means now follow the input's, not the biased prediction's.
    assert torch.allclose(fixed.mean((2, 3)), noisy.mean((2, 3)), atol=3e-3)
    # A prediction that already has the input's low band barely changes.
    exact = low_frequency_consistency(clean, clean, 100.0, input_consistency_sigma=8.0)
    assert torch.allclose(exact, clean, atol=1e-5)


def test_saturated_input_pixels_are_left_alone():
    ratio = 50.0
    noisy = torch.full((1, 4, 32, 32), 0.1)
    noisy[..., :, 16:] = 1.0 * ratio  # the sensor clipped the right half
    prediction = torch.full_like(noisy, 0.08)
    prediction[..., :, 16:] = 1.0
    out = low_frequency_consistency(prediction, noisy, ratio, input_consistency_sigma=4.0)
    assert torch.equal(out[..., :, 16:], prediction[..., :, 16:])
    # The left half's average ignores the clipped half: it moves to the input's 0.1.
    assert torch.allclose(out[..., :, :16], torch.full_like(out[..., :, :16], 0.1), atol=1e-4)


def test_sampler_option_off_by_default_and_oracle_unchanged():
    g = torch.Generator().manual_seed(1)
    clean = 0.1 + 0.2 * torch.rand(2, 4, 24, 24, generator=g)
    noisy = clean * (1 + 0.1 * torch.randn(2, 4, 24, 24, generator=g))
    process = ExposureProcess()

    def too_dark(state, photons, noisy_input):
        return 0.8 * clean

    kwargs = dict(exposure_ratio=100.0, system_gain=2.0, steps=3)
    plain = sample(process, too_dark, noisy, generator=torch.Generator().manual_seed(2), **kwargs)
    assert torch.allclose(plain, 0.8 * clean)
    fixed = sample(
        process,
        too_dark,
        noisy,
        generator=torch.Generator().manual_seed(2),
        correct=input_consistency(6.0),
        **kwargs,
    )
    assert (fixed - clean).abs().mean() < 0.5 * (plain - clean).abs().mean()


def test_enhance_consistency_option():
    import expodiff
    from expodiff.errors import ExpodiffError

    g = torch.Generator().manual_seed(3)
    # A smooth scene: the correction fixes the low band, which is then all of the error.
    clean = 0.1 + 0.2 * gaussian_blur(torch.rand(1, 4, 32, 32, generator=g), 3.0)[0]
    short = clean / 100.0

    def too_dark(state, photons, noisy_input):
        return 0.7 * clean[None].expand_as(state)

    kwargs = dict(ratio=100.0, system_gain=1.0, model=too_dark, seed=0)
    off = expodiff.enhance(short, input_consistency_sigma=0, **kwargs).raw_norm
    assert torch.allclose(off, 0.7 * clean)
    # A bare callable has no config: None means off as well.
    assert torch.equal(expodiff.enhance(short, **kwargs).raw_norm, off)
    on = expodiff.enhance(short, input_consistency_sigma=8.0, **kwargs).raw_norm
    assert (on - clean).abs().mean() < 0.2 * (off - clean).abs().mean()
    with pytest.raises(ExpodiffError, match="input_consistency_sigma"):
        expodiff.enhance(short, input_consistency_sigma=-1.0, **kwargs)


def test_keep_offset_corrects_only_the_spatially_varying_low_frequencies():
    """A black-level error is a constant per-channel difference between input and reference:
    with keep_offset the correction leaves the prediction's per-channel offset alone and still
    restores the input's smooth variation."""
    g = torch.Generator().manual_seed(1)
    ramp = torch.linspace(0.0, 0.2, 64).view(1, 1, 1, 64).expand(1, 4, 64, 64)
    clean = 0.3 + ramp
    offset = torch.tensor([0.05, -0.02, 0.03, 0.0]).view(1, 4, 1, 1)
    noisy = clean + offset + 0.02 * torch.randn(1, 4, 64, 64, generator=g)  # biased input
    flat = torch.full_like(clean, 0.4)  # a prediction without the input's gradient
    kept = low_frequency_consistency(
        flat, noisy, 100.0, input_consistency_sigma=4.0, keep_offset=True
    )
    full = low_frequency_consistency(flat, noisy, 100.0, input_consistency_sigma=4.0)
    # the offset: the prediction's own per-channel mean stays; the full correction takes the input's
    torch.testing.assert_close(kept.mean((2, 3)), flat.mean((2, 3)), atol=2e-3, rtol=0)
    torch.testing.assert_close(full.mean((2, 3)), noisy.mean((2, 3)), atol=2e-3, rtol=0)
    # the gradient: both restore it (columns 16 and 48, away from the blur's border)
    for out in (kept, full):
        rise = (out[..., 48] - out[..., 16]).mean()
        assert abs(float(rise) - float((ramp[..., 48] - ramp[..., 16]).mean())) < 0.01
