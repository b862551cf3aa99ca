"""Low-frequency consistency with the input: a ground-truth-free bias correction.

Why
---
Every noise component of the exposure model except the black-level error is zero-mean, so on
pixels the sensor did not saturate the amplified input is an unbiased measurement of the
reference: ``E[X_T] = X_ref`` (paper Eq. 1-3). Averaged over a neighbourhood of a few hundred
packed pixels its noise all but vanishes, so the input's *low frequencies* are known almost
exactly, even at ratios of several hundred. A network trained with L1 estimates the
posterior *median*, which for the skewed low-photon posteriors lies below the mean: its
predictions come out slightly too dark, and a colour balance far from the training data
(e.g. tungsten light, raw red above green) is pulled towards the training prior. The
progressive sampler compounds both, because each re-exposed state is built mostly from the
previous prediction.

What
----
:func:`low_frequency_consistency` replaces the prediction's low frequencies (a Gaussian of
``input_consistency_sigma`` = s packed pixels, normalised convolution over unsaturated input
pixels) with the input's, per channel, and keeps the network's high frequencies:

    F' = clip(F + G_s * X_T - G_s * F, 0, 1)     on unsaturated pixels

:func:`input_consistency` makes it the sampler's ``correct`` hook (off unless asked for); it
reads only the input, never the ground truth. It is not a fix for a black-level error: a constant
offset in the input (an uncalibrated black level) is restored along with the true low
frequencies, where a network trained with a bias component would have removed it.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from .process import BatchScalar, as_batch_vector

__all__ = ["gaussian_blur", "low_frequency_consistency", "input_consistency", "SATURATION_LEVEL"]

# Input pixels at or above this raw_norm level (before amplification) count as saturated:
# the sensor clipped them, so their mean is no unbiased measurement of the reference.
SATURATION_LEVEL = 0.98
# Gaussian support in standard deviations on each side.
_TRUNCATE = 3.0


def _blur_axis(x: Tensor, kernel: Tensor, dim: int) -> Tensor:
    radius = kernel.numel() // 2
    pad = (radius, radius, 0, 0) if dim == -1 else (0, 0, radius, radius)
    channels = x.shape[1]
    shape = (channels, 1, 1, kernel.numel()) if dim == -1 else (channels, 1, kernel.numel(), 1)
    weight = kernel.to(x.dtype).reshape(1, 1, -1).expand(channels, 1, -1).reshape(shape)
    # Zero padding: the caller renormalises by the blurred support (a normalised convolution).
    return F.conv2d(F.pad(x, pad), weight, groups=channels)


def gaussian_blur(x: Tensor, sigma_px: float) -> Tensor:
    """Separable Gaussian blur of each channel, renormalised at the borders.

    Near an edge the kernel is cut at the frame and its remaining weights rescaled to sum to
    one (a normalised convolution over the frame), so constants are preserved and no edge
    pixel gains weight from padding. The support is 3 sigma, at most the frame's size, so a
    huge sigma costs no more than a frame-wide average.

    Args:
        x: ``(B, C, H, W)`` float tensor.
        sigma_px: standard deviation in pixels (finite, > 0).

    Returns:
        The blurred tensor, same shape and dtype (computed in at least float32).
    """
    if not (math.isfinite(sigma_px) and sigma_px > 0):
        raise ValueError(f"sigma_px must be finite and > 0, got {sigma_px}")
    if x.dim() != 4:
        raise ValueError(f"expected (B, C, H, W), got {tuple(x.shape)}")
    work = x if x.dtype == torch.float64 else x.float()
    radius = max(1, min(int(round(_TRUNCATE * sigma_px)), max(x.shape[-2:])))
    t = torch.arange(-radius, radius + 1, dtype=torch.float64, device=x.device)
    kernel = torch.exp(-0.5 * (t / sigma_px) ** 2)
    kernel = (kernel / kernel.sum()).to(work.dtype)
    ones = torch.ones((1, 1, *x.shape[-2:]), dtype=work.dtype, device=x.device)
    support = _blur_axis(_blur_axis(ones, kernel, -1), kernel, -2)
    blurred = _blur_axis(_blur_axis(work, kernel, -1), kernel, -2) / support
    return blurred.to(x.dtype)


def low_frequency_consistency(
    prediction: Tensor,
    noisy: Tensor,
    exposure_ratio: BatchScalar,
    *,
    input_consistency_sigma: float,
    saturation_level: float = SATURATION_LEVEL,
    keep_offset: bool = False,
) -> Tensor:
    """Give the prediction the input's low frequencies (see the module docstring).

    Args:
        prediction: ``(B, C, H, W)`` F, the network's estimate of the reference (raw_norm).
        noisy: ``(B, C, H, W)`` X_T, the input amplified by r (raw_norm).
        exposure_ratio: r, ``(B,)`` or a number; marks saturated input pixels
            (``noisy / r >= saturation_level``), which neither side's average uses and
            which keep the prediction unchanged.
        input_consistency_sigma: Gaussian standard deviation s in packed pixels; the noise
            of the input's average falls as ``1 / (2 sqrt(pi) s)``.
        saturation_level: raw_norm level of a saturated input pixel.
        keep_offset: leave the prediction's per-channel offset alone: the mean difference
            between input and prediction over the unsaturated pixels of each channel is
            taken out of the correction, which then fixes only the spatially varying low
            frequencies (a black-level error is a constant per-channel difference).

    Returns:
        The corrected prediction, clipped to ``[0, 1]``, shape ``(B, C, H, W)``.
    """
    if prediction.shape != noisy.shape or prediction.dim() != 4:
        raise ValueError(
            f"prediction {tuple(prediction.shape)} and noisy {tuple(noisy.shape)} must be "
            "equal (B, C, H, W) shapes"
        )
    out_dtype = prediction.dtype
    prediction, noisy = prediction.float(), noisy.float()
    r = as_batch_vector(exposure_ratio, noisy.shape[0], like=noisy, name="exposure_ratio")
    valid = (noisy < saturation_level * r.reshape(-1, 1, 1, 1)).float()
    weight = gaussian_blur(valid, input_consistency_sigma).clamp_min(1e-6)
    difference = noisy - prediction
    if keep_offset:
        offset = (difference * valid).sum((2, 3), keepdim=True)
        difference = difference - offset / valid.sum((2, 3), keepdim=True).clamp_min(1.0)
    # Normalised convolution: averages over unsaturated pixels only.
    delta = gaussian_blur(difference * valid, input_consistency_sigma) / weight
    return (prediction + delta * valid).clamp(0.0, 1.0).to(out_dtype)


def input_consistency(
    input_consistency_sigma: float, keep_offset: bool = False
) -> Callable[[Tensor, Tensor, Tensor], Tensor]:
    """The sampler's ``correct`` hook giving every prediction the input's low frequencies
    (:func:`low_frequency_consistency` with a Gaussian of ``input_consistency_sigma`` packed
    pixels; ``keep_offset``: its per-channel offset stays the prediction's)."""
    sigma = input_consistency_sigma
    if not (math.isfinite(sigma) and sigma > 0):
        raise ValueError(f"input_consistency_sigma must be finite and > 0, got {sigma}")

    def correct(prediction: Tensor, noisy: Tensor, exposure_ratio: Tensor) -> Tensor:
        return low_frequency_consistency(
            prediction, noisy, exposure_ratio, input_consistency_sigma=sigma,
            keep_offset=keep_offset,
        )  # fmt: skip

    return correct
