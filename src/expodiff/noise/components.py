"""Physical noise components as pure, batched torch functions on packed raw in DN.

Notation (ExposureDiffusion Eq. 1-3, ELD Eq. 2-7)::

    X = K * I + N,   N = K * N_p + N_read + N_row + N_q (+ colour bias)

=====================  ==================================================================
name here              paper symbol / meaning
=====================  ==================================================================
``signal_dn``          ``K * I``: noise-free signal above black, DN
``system_gain``        ``K``: overall system gain, DN per photo-electron
``read_sigma``         ``sigma_g``: std of Gaussian read noise, DN
``tukey_shape``        ``lambda``: Tukey-lambda shape of the read noise
``tukey_scale``        ``sigma_TL``: Tukey-lambda scale, DN
``row_sigma``          ``sigma_r``: std of the per-row offset, DN
``colour_bias``        per-channel black-level error, DN
=====================  ==================================================================

Every function takes per-sample parameters as ``(B,)`` tensors (a Python number is
broadcast), works on CPU and CUDA, and draws its randomness from an optional
``torch.Generator``. When the generator lives on another device than the data, numbers are
drawn on the generator's device and moved, so a seeded CPU generator gives the same noise on
any device. No numpy or scipy here: this is the training hot path.

Shapes: images are ``(B, C, H, W)`` packed raw; Bayer packing is the canonical
``R, Gr, B, Gb`` of :mod:`expodiff.raw`, in which channels 0 and 1 come from the same mosaic
rows and channels 2 and 3 from the other rows, whatever the CFA layout (row noise relies on
this).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = [
    "as_batch",
    "poisson_shot_noise",
    "gaussian_shot_noise",
    "gaussian_read_noise",
    "tukey_lambda_ppf",
    "tukey_lambda_noise",
    "tukey_lambda_variance",
    "row_noise",
    "quantization_noise",
    "colour_bias_noise",
    "BAYER_ROW_OF_CHANNEL",
]

# Packed Bayer channel -> which of the two mosaic rows of a CFA period it comes from
# (0: the rows holding R and Gr, 1: the rows holding B and Gb).
BAYER_ROW_OF_CHANNEL: tuple[int, int, int, int] = (0, 0, 1, 1)

# Half a float32 ulp at 1 (2**-25): uniforms are shifted by it so that the Tukey quantile
# function never sees p = 0 or p = 1 (torch.rand returns multiples of 2**-24 in [0, 1)).
_HALF_ULP = 2.0**-25


# --------------------------------------------------------------------------- helpers
def as_batch(value: Tensor | float, batch: int, *, like: Tensor, name: str = "value") -> Tensor:
    """``value`` as a ``(B,)`` tensor on ``like``'s device in ``like``'s (floating) dtype.

    Args:
        value: a Python number, a 0-d tensor, or a ``(B,)`` / ``(1,)`` tensor.
        batch: B.
        like: tensor whose device and floating dtype the result takes.
        name: argument name for the error message.

    Returns:
        ``(B,)`` tensor (an expanded view for scalars).

    Raises:
        ValueError: ``value`` has another shape.
    """
    dtype = like.dtype if like.is_floating_point() else torch.float32
    t = torch.as_tensor(value, dtype=dtype, device=like.device)
    if t.dim() == 0 or t.shape == (1,):
        return t.reshape(1).expand(batch)
    if t.shape != (batch,):
        raise ValueError(f"{name} must be a number or have shape ({batch},), got {tuple(t.shape)}")
    return t


def _bcast(v: Tensor, dims: int = 4) -> Tensor:
    """``(B,)`` -> ``(B, 1, ..., 1)`` with ``dims`` dimensions in all."""
    return v.reshape(-1, *([1] * (dims - 1)))


def _check_image(x: Tensor, name: str = "image") -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() != 4:
        raise ValueError(f"{name} must have shape (B, C, H, W), got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got {x.dtype}")


def _gen_device(generator: torch.Generator | None, device: torch.device) -> torch.device:
    return device if generator is None else generator.device


def _randn(shape: Sequence[int], *, like: Tensor, generator: torch.Generator | None) -> Tensor:
    dev = _gen_device(generator, like.device)
    out = torch.randn(tuple(shape), generator=generator, device=dev, dtype=torch.float32)
    return out.to(device=like.device, dtype=like.dtype)


def _rand(shape: Sequence[int], *, like: Tensor, generator: torch.Generator | None) -> Tensor:
    dev = _gen_device(generator, like.device)
    out = torch.rand(tuple(shape), generator=generator, device=dev, dtype=torch.float32)
    return out.to(like.device)  # stays float32: the Tukey tails need its resolution


def _poisson(rate: Tensor, generator: torch.Generator | None) -> Tensor:
    if generator is not None and generator.device != rate.device:
        return torch.poisson(rate.to(generator.device), generator=generator).to(rate.device)
    return torch.poisson(rate, generator=generator)


def _check_gain(system_gain: Tensor) -> None:
    if not bool(torch.all(system_gain > 0)) or not bool(torch.all(torch.isfinite(system_gain))):
        raise ValueError(f"system_gain K must be finite and > 0, got {system_gain.tolist()}")


# ----------------------------------------------------------------------- shot noise
def poisson_shot_noise(
    signal_dn: Tensor,
    system_gain: Tensor | float,
    *,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Exact shot noise: ``K * Poisson(signal / K) - signal`` (a zero-mean deviation, DN).

    Photo-electrons are Poisson; a DN value carries ``signal_dn / K`` electrons on average.
    Negative signal (below black) carries no photons: its rate is clamped at 0 and its
    deviation is 0.

    Args:
        signal_dn: ``(B, C, H, W)`` noise-free signal above black, DN.
        system_gain: ``(B,)`` or a number: K, DN per electron (> 0).
        generator: source of randomness.

    Returns:
        ``(B, C, H, W)`` noise in DN with mean 0 and variance ``K * signal_dn``.
    """
    _check_image(signal_dn, "signal_dn")
    k = as_batch(system_gain, signal_dn.shape[0], like=signal_dn, name="system_gain")
    _check_gain(k)
    k = _bcast(k)
    signal = signal_dn.clamp_min(0.0)
    return _poisson(signal / k, generator).mul_(k).sub_(signal)


def gaussian_shot_noise(
    signal_dn: Tensor,
    system_gain: Tensor | float,
    *,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Gaussian approximation of shot noise: ``N(0, K * max(signal, 0))`` in DN.

    Args and returns as :func:`poisson_shot_noise`.
    """
    _check_image(signal_dn, "signal_dn")
    k = as_batch(system_gain, signal_dn.shape[0], like=signal_dn, name="system_gain")
    _check_gain(k)
    std = signal_dn.clamp_min(0.0).mul_(_bcast(k)).sqrt_()
    return _randn(signal_dn.shape, like=signal_dn, generator=generator).mul_(std)


# ----------------------------------------------------------------------- read noise
def gaussian_read_noise(
    shape: Sequence[int],
    read_sigma: Tensor | float,
    *,
    like: Tensor,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Signal-independent Gaussian read noise ``N(0, sigma_g^2)`` per pixel, DN.

    Args:
        shape: ``(B, C, H, W)``.
        read_sigma: ``(B,)`` or a number, sigma_g in DN (>= 0).
        like: tensor whose device and dtype the result takes.
        generator: source of randomness.
    """
    sigma = as_batch(read_sigma, shape[0], like=like, name="read_sigma")
    return _randn(shape, like=like, generator=generator).mul_(_bcast(sigma, len(shape)))


def tukey_lambda_ppf(p: Tensor, shape_lambda: Tensor | float) -> Tensor:
    """Quantile function of the standard Tukey-lambda distribution.

    ``Q(p) = (p^lambda - (1 - p)^lambda) / lambda``; at ``lambda = 0`` the logistic limit
    ``log(p / (1 - p))``. Computed as ``(expm1(lambda log p) - expm1(lambda log(1-p))) /
    lambda``, which is accurate for tiny ``|lambda|`` too, with ``lambda == 0`` exact.

    Args:
        p: probabilities in (0, 1), any shape.
        shape_lambda: lambda, broadcastable to ``p``.
    """
    lam = torch.as_tensor(shape_lambda, dtype=p.dtype, device=p.device)
    log_p = torch.log(p)
    log_q = torch.log1p(-p)
    zero = lam == 0
    safe = torch.where(zero, torch.ones_like(lam), lam)
    general = (torch.expm1(safe * log_p) - torch.expm1(safe * log_q)) / safe
    return torch.where(zero, log_p - log_q, general)


def _tukey_quantile_from_uniform_(u: Tensor, lam: Tensor) -> Tensor:
    """Tukey quantile at ``p = u + 2**-25``, overwriting ``u``; ``1 - p`` has no cancellation.

    Written with in-place operations: on a full frame the temporaries, not the arithmetic,
    dominate the cost.
    """
    log_p = u.add(_HALF_ULP).log_()
    log_q = u.neg_().add_(1.0).sub_(_HALF_ULP).log_()  # log(1 - p); reuses u's memory
    zero = lam == 0
    logistic = log_p - log_q if bool(zero.any()) else None
    safe = torch.where(zero, torch.ones_like(lam), lam)
    general = log_p.mul_(safe).expm1_().sub_(log_q.mul_(safe).expm1_()).div_(safe)
    if logistic is None:
        return general
    return torch.where(zero, logistic, general)


def tukey_lambda_noise(
    shape: Sequence[int],
    tukey_shape: Tensor | float,
    tukey_scale: Tensor | float,
    *,
    like: Tensor,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Tukey-lambda read noise ``sigma_TL * Q(U; lambda)`` by inverse CDF, DN.

    ``U`` is uniform on float32's grid shifted by half a step, so ``p`` lies in
    ``[2^-25, 1 - 2^-25]``: the distribution is truncated at quantile 3e-8 on each side
    (never an infinity), and ``lambda = 0`` gives the logistic distribution exactly.

    Args:
        shape: ``(B, C, H, W)``.
        tukey_shape: ``(B,)`` or a number, lambda.
        tukey_scale: ``(B,)`` or a number, sigma_TL in DN (>= 0).
        like: tensor whose device and dtype the result takes.
        generator: source of randomness.
    """
    b, dims = shape[0], len(shape)
    lam = _bcast(as_batch(tukey_shape, b, like=like, name="tukey_shape"), dims).float()
    scale = _bcast(as_batch(tukey_scale, b, like=like, name="tukey_scale"), dims)
    u = _rand(shape, like=like, generator=generator)
    return _tukey_quantile_from_uniform_(u, lam).to(like.dtype).mul_(scale)


def tukey_lambda_variance(shape_lambda: float) -> float:
    """Variance of the standard Tukey-lambda distribution (finite for lambda > -1/2).

    ``2/lambda^2 * (1/(1 + 2 lambda) - Gamma(lambda+1)^2 / Gamma(2 lambda + 2))``, and
    ``pi^2 / 3`` at lambda = 0 (logistic).
    """
    import math

    lam = float(shape_lambda)
    if lam <= -0.5:
        return math.inf
    if abs(lam) < 1e-6:
        return math.pi**2 / 3.0
    log_ratio = 2.0 * math.lgamma(lam + 1.0) - math.lgamma(2.0 * lam + 2.0)
    return 2.0 / lam**2 * (1.0 / (1.0 + 2.0 * lam) - math.exp(log_ratio))


# ------------------------------------------------------------------------ row noise
def row_noise(
    shape: Sequence[int],
    row_sigma: Tensor | float,
    *,
    like: Tensor,
    generator: torch.Generator | None = None,
) -> Tensor:
    """One ``N(0, sigma_r^2)`` offset per row of the *unpacked* Bayer mosaic, packed back.

    A packed row ``i`` holds mosaic rows ``2i`` and ``2i + 1``: channels 0/1 (R, Gr) share
    one offset and channels 2/3 (B, Gb) another (canonical packing, any CFA layout).

    Args:
        shape: ``(B, 4, H, W)`` packed Bayer.
        row_sigma: ``(B,)`` or a number, sigma_r in DN.
        like: tensor whose device and dtype the result takes.
        generator: source of randomness.

    Returns:
        ``(B, 4, H, 1)``, constant along each row (broadcasts against the image).
    """
    b, c, h = shape[0], shape[1], shape[2]
    if len(shape) != 4 or c != 4:
        raise ValueError(f"row noise needs packed Bayer (B, 4, H, W), got {tuple(shape)}")
    sigma = as_batch(row_sigma, b, like=like, name="row_sigma")
    per_row = _randn((b, 2, h), like=like, generator=generator) * sigma.reshape(-1, 1, 1)
    index = torch.tensor(BAYER_ROW_OF_CHANNEL, device=like.device)
    return per_row.index_select(1, index).unsqueeze(-1)


# -------------------------------------------------------------- quantisation, bias
def quantization_noise(
    shape: Sequence[int],
    *,
    like: Tensor,
    step_dn: float = 1.0,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Uniform quantisation noise on ``[-step/2, step/2)`` DN (variance ``step^2 / 12``)."""
    u = _rand(shape, like=like, generator=generator).to(like.dtype)
    return u.sub_(0.5).mul_(step_dn)


def colour_bias_noise(colour_bias: Tensor, *, like: Tensor) -> Tensor:
    """Per-channel black-level error as a ``(B, 4, 1, 1)`` offset in DN.

    Args:
        colour_bias: ``(B, 4)`` or ``(4,)`` DN offsets in canonical channel order.
        like: a ``(B, 4, H, W)`` image (device, dtype and batch size).
    """
    bias = torch.as_tensor(colour_bias, dtype=like.dtype, device=like.device)
    b, c = like.shape[0], like.shape[1]
    if bias.dim() == 1:
        bias = bias.unsqueeze(0).expand(b, -1)
    if bias.shape != (b, c):
        raise ValueError(f"colour_bias must have shape ({b}, {c}), got {tuple(bias.shape)}")
    return bias.reshape(b, c, 1, 1)
