"""Image-quality metrics as the low-light raw denoising literature computes them.

All metrics run in float64 on ``(C, H, W)`` tensors (packed raw, or ``(3, H, W)`` sRGB):

* :func:`psnr`: both images clipped to ``[0, 1]``, data range 1, MSE over every pixel and
  channel of the image, ``10 log10(1 / MSE)`` (``inf`` for identical images). Dataset numbers
  are the mean of the per-image values (as SID, ELD, PMN and ExposureDiffusion report them).
* :func:`ssim`: the structural similarity of Wang et al. 2004 exactly as scikit-image's
  ``structural_similarity(x, y, data_range=1, channel_axis=-1)`` computes it with its defaults,
  which is what ELD's ``compare_ssim(..., multichannel=True)`` evaluation calls: a 7x7 uniform
  window, sample covariance (``N / (N - 1)``), K1 = 0.01, K2 = 0.03, the SSIM map averaged
  over the pixels at least 3 px from the border, computed per channel and averaged over the
  channels (the four packed Bayer planes).
* :func:`brightness_correct`: the ground-truth brightness correction the official
  ExposureDiffusion / ELD evaluation applies ("illuminance correction"): the prediction,
  clipped to ``[0, 1]``, is multiplied by the least-squares scale ``<p, t> / <p, p>`` computed
  over the pixels where the reference is not saturated (``t < 1``). It uses the ground truth
  and so is an *oracle*: reports label these numbers as "GT-corrected".
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["psnr", "ssim", "brightness_correct", "image_metrics", "SSIM_WINDOW"]

SSIM_WINDOW = 7
_K1 = 0.01
_K2 = 0.03


def _check_pair(x: torch.Tensor, y: torch.Tensor) -> None:
    if x.shape != y.shape:
        raise ValueError(f"shapes differ: {tuple(x.shape)} vs {tuple(y.shape)}")
    if x.dim() != 3:
        raise ValueError(f"expected (C, H, W) images, got shape {tuple(x.shape)}")


def psnr(prediction: torch.Tensor, reference: torch.Tensor, data_range: float = 1.0) -> float:
    """PSNR in dB of ``prediction`` against ``reference`` (both clipped to [0, data_range]).

    Args:
        prediction: ``(C, H, W)`` image.
        reference: ``(C, H, W)`` ground truth.
        data_range: peak value (1 for raw_norm and sRGB in [0, 1]).

    Returns:
        ``10 log10(data_range^2 / MSE)`` over all pixels and channels; ``inf`` when equal.
    """
    _check_pair(prediction, reference)
    x = prediction.detach().to(torch.float64).clamp(0.0, data_range)
    y = reference.detach().to(torch.float64).clamp(0.0, data_range)
    mse = float(torch.mean((x - y) ** 2))
    if mse == 0.0:
        return math.inf
    return 10.0 * math.log10(data_range**2 / mse)


def ssim(prediction: torch.Tensor, reference: torch.Tensor, data_range: float = 1.0) -> float:
    """Mean SSIM over channels (scikit-image defaults, 7x7 uniform window; see module doc).

    Args:
        prediction: ``(C, H, W)`` image, at least 7x7.
        reference: ``(C, H, W)`` ground truth.
        data_range: peak value.

    Returns:
        SSIM averaged over the interior pixels of each channel, then over the channels.
    """
    _check_pair(prediction, reference)
    c, h, w = prediction.shape
    if h < SSIM_WINDOW or w < SSIM_WINDOW:
        raise ValueError(f"SSIM needs images of at least {SSIM_WINDOW}x{SSIM_WINDOW}, got {h}x{w}")
    x = prediction.detach().to(torch.float64).clamp(0.0, data_range).unsqueeze(1)
    y = reference.detach().to(torch.float64).clamp(0.0, data_range).unsqueeze(1)
    # A valid (unpadded) box filter yields exactly the interior that scikit-image averages
    # over after cropping (win - 1) / 2 pixels, so no padding convention is involved.
    pool = lambda t: F.avg_pool2d(t, SSIM_WINDOW, stride=1)  # noqa: E731
    n = SSIM_WINDOW * SSIM_WINDOW
    cov_norm = n / (n - 1.0)
    ux, uy = pool(x), pool(y)
    vx = cov_norm * (pool(x * x) - ux * ux)
    vy = cov_norm * (pool(y * y) - uy * uy)
    vxy = cov_norm * (pool(x * y) - ux * uy)
    c1 = (_K1 * data_range) ** 2
    c2 = (_K2 * data_range) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    per_channel = s.mean(dim=(1, 2, 3))
    return float(per_channel.mean())


def brightness_correct(prediction: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Oracle least-squares brightness match of ``prediction`` to ``reference`` (one image).

    ``clip(p, 0, 1) * <p, t> / <p, p>`` over the pixels where ``t < 1`` (unsaturated), the
    official evaluation's "illuminance correction". Returns ``prediction`` clipped when the
    scale is undefined (an all-zero prediction).
    """
    if prediction.shape != reference.shape:
        raise ValueError(f"shapes differ: {tuple(prediction.shape)} vs {tuple(reference.shape)}")
    p = prediction.detach().to(torch.float64).clamp(0.0, 1.0)
    t = reference.detach().to(torch.float64)
    mask = t < 1.0
    pm, tm = p[mask], t[mask]
    den = torch.dot(pm, pm)
    if float(den) == 0.0:
        return p.to(prediction.dtype)
    return (p * (torch.dot(pm, tm) / den)).to(prediction.dtype)


def image_metrics(prediction: torch.Tensor, reference: torch.Tensor) -> dict[str, float]:
    """``psnr``, ``ssim`` and their GT-brightness-corrected versions ``psnr_gt``, ``ssim_gt``."""
    corrected = brightness_correct(prediction.to(torch.float64), reference)
    return {
        "psnr": psnr(prediction, reference),
        "ssim": ssim(prediction, reference),
        "psnr_gt": psnr(corrected, reference),
        "ssim_gt": ssim(corrected, reference),
    }
