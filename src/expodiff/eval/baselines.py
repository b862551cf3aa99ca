"""Baselines that need no trained network: scaled input, BM3D and Anscombe-BM3D.

Noise model behind the sigmas (the same physics as :mod:`expodiff.noise`): a packed
reference-brightness value ``x`` (raw_norm amplified by the ratio ``r``) of an input with
system gain ``K`` (DN/e- on the ``full_scale_dn`` scale) corresponds to
``z = x * full_scale_dn / (r * K)`` photo-electrons of the short exposure, and
``z = Poisson(lambda) + n / K`` with signal-independent read noise ``n`` of standard deviation
``read_std`` DN (Gaussian, or the total of the Tukey-lambda/row/quantisation parts for the
ELD model). So, per pixel, ``Var[x] = (r K / fs)^2 (lambda + (read_std / K)^2)``.

* **BM3D**: BM3D (``bm3d`` package, profile "np") on each packed plane with one Gaussian
  sigma per plane from that variance at the plane's mean signal level.
* **A-BM3D**: the generalised Anscombe transform for Poisson-Gaussian noise in electrons
  ``f(z) = 2 sqrt(max(z + 3/8 + sigma^2, 0))``, ``sigma = read_std / K``, which makes the noise
  approximately unit-variance Gaussian; BM3D with sigma 1; then the closed-form
  approximation of the exact unbiased inverse (Makitalo & Foi, IEEE TIP 2013):
  ``1/4 D^2 + 1/4 sqrt(3/2) D^-1 - 11/8 D^-2 + 5/8 sqrt(3/2) D^-3 - 1/8 - sigma^2``
  (clipped at 0), mapped back to the reference brightness.
* **scaled**: the amplified noisy input itself (what the network starts from).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from ..defaults import ELD_FULL_SCALE_DN

__all__ = [
    "scaled_input",
    "bm3d_denoise",
    "abm3d_denoise",
    "gat_forward",
    "gat_inverse",
    "plane_sigmas",
]


def scaled_input(noisy: torch.Tensor) -> torch.Tensor:
    """The amplified noisy input, clipped to [0, 1]."""
    return noisy.clamp(0.0, 1.0)


def _bm3d():
    try:
        import bm3d
    except ImportError as exc:  # research extra
        from ..errors import ConfigError

        raise ConfigError(
            "the BM3D baselines need the 'bm3d' package: pip install 'expodiff[research]'"
        ) from exc
    return bm3d


def _scale(exposure_ratio: float, system_gain: float, full_scale_dn: float) -> float:
    """raw_norm at reference brightness per short-exposure electron: r K / fs."""
    if exposure_ratio <= 0 or system_gain <= 0 or full_scale_dn <= 0:
        raise ValueError("ratio, system gain and full_scale_dn must be positive")
    return exposure_ratio * system_gain / full_scale_dn


def plane_sigmas(
    noisy: torch.Tensor,
    *,
    exposure_ratio: float,
    system_gain: float,
    read_std: float,
    full_scale_dn: float = ELD_FULL_SCALE_DN,
) -> list[float]:
    """Gaussian sigma of each packed plane of ``noisy (C, H, W)`` at its mean signal level."""
    a = _scale(exposure_ratio, system_gain, full_scale_dn)
    out = []
    for plane in noisy.detach().to(torch.float64):
        electrons = max(float(plane.mean()) / a, 0.0)
        out.append(a * math.sqrt(electrons + (read_std / system_gain) ** 2))
    return out


def bm3d_denoise(
    noisy: torch.Tensor,
    *,
    exposure_ratio: float,
    system_gain: float,
    read_std: float,
    full_scale_dn: float = ELD_FULL_SCALE_DN,
    profile: Any = "np",
) -> torch.Tensor:
    """BM3D per packed plane of ``noisy (C, H, W)`` with sigmas from :func:`plane_sigmas`.

    Args:
        noisy: ``(C, H, W)`` amplified short exposure (raw_norm at reference brightness).
        exposure_ratio: r.
        system_gain: K in DN/e- on the ``full_scale_dn`` scale.
        read_std: signal-independent noise std in DN
            (:func:`expodiff.noise.params.read_noise_std`).
        full_scale_dn: DN span of raw_norm 1.
        profile: the ``bm3d`` package's profile: a name ("np", its default) or a
            ``bm3d.BM3DProfile`` object (e.g. with ``num_threads`` set).

    Returns:
        ``(C, H, W)`` estimate clipped to [0, 1].
    """
    bm3d = _bm3d()
    sigmas = plane_sigmas(
        noisy,
        exposure_ratio=exposure_ratio,
        system_gain=system_gain,
        read_std=read_std,
        full_scale_dn=full_scale_dn,
    )
    planes = []
    for plane, sigma in zip(noisy.detach().to(torch.float64).cpu().numpy(), sigmas, strict=True):
        planes.append(np.asarray(bm3d.bm3d(plane, max(sigma, 1e-6), profile), dtype=np.float64))
    return torch.from_numpy(np.stack(planes)).to(noisy.dtype).clamp(0.0, 1.0)


def gat_forward(z: np.ndarray, sigma: float) -> np.ndarray:
    """Generalised Anscombe transform of Poisson(lambda) + N(0, sigma^2) data (electrons)."""
    return 2.0 * np.sqrt(np.maximum(z + 3.0 / 8.0 + sigma**2, 0.0))


def gat_inverse(d: np.ndarray, sigma: float) -> np.ndarray:
    """Closed-form approximation of the exact unbiased inverse GAT (Makitalo & Foi 2013)."""
    d = np.maximum(d, 1e-3)  # the expansion diverges at 0; the transform is >= 2 sqrt(3/8)
    s32 = math.sqrt(1.5)
    out = 0.25 * d**2 + 0.25 * s32 / d - 11.0 / 8.0 / d**2 + 5.0 / 8.0 * s32 / d**3 - 0.125
    return np.maximum(out - sigma**2, 0.0)


def abm3d_denoise(
    noisy: torch.Tensor,
    *,
    exposure_ratio: float,
    system_gain: float,
    read_std: float,
    full_scale_dn: float = ELD_FULL_SCALE_DN,
    profile: Any = "np",
) -> torch.Tensor:
    """Anscombe (GAT) + BM3D (sigma 1) + exact unbiased inverse, per packed plane.

    Args: as :func:`bm3d_denoise`.

    Returns:
        ``(C, H, W)`` estimate clipped to [0, 1].
    """
    bm3d = _bm3d()
    a = _scale(exposure_ratio, system_gain, full_scale_dn)
    sigma = read_std / system_gain
    planes = []
    for plane in noisy.detach().to(torch.float64).cpu().numpy():
        z = plane / a
        d = gat_forward(z, sigma)
        d_hat = np.asarray(bm3d.bm3d(d, 1.0, profile), dtype=np.float64)
        planes.append(gat_inverse(d_hat, sigma) * a)
    return torch.from_numpy(np.stack(planes)).to(noisy.dtype).clamp(0.0, 1.0)
