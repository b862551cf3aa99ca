"""Model size and cost: parameter counts and multiply-accumulates per megapixel.

Two parameter-count conventions (:class:`ParameterConvention`):

* ``ALL`` (``"all"``): every trainable parameter (what the checkpoint holds).
* ``PAPER`` (``"paper"``): only the parameters of convolution and linear layers. This is what the
  ``thop`` profiler reports (it counts parameters of the layer types it knows and skips the
  rest), and it reproduces the sizes in the ExposureDiffusion paper: NAFNet's LayerNorm affine
  parameters and the per-block residual scales ``beta``/``gamma`` are not counted there. The
  U-Net has only convolutions, so both conventions agree for it.

Cost is counted with forward hooks on ``Conv2d``, ``ConvTranspose2d`` and ``Linear``
(multiply-accumulates, MACs; FLOPs = 2 MACs). Element-wise work (activations, LayerNorm,
gates, the adaptive residual layer, the Poisson draw) is not counted; it is a few percent.
"""

from __future__ import annotations

from enum import Enum

import torch
from torch import Tensor, nn

__all__ = ["ParameterConvention", "count_parameters", "count_macs", "macs_per_megapixel"]

_COUNTED = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d, nn.Linear)


class ParameterConvention(str, Enum):
    """Which parameters :func:`count_parameters` counts (see the module docstring)."""

    ALL = "all"  # every trainable parameter
    PAPER = "paper"  # conv/linear layers only, as thop and the paper count


def count_parameters(
    module: nn.Module, convention: ParameterConvention | str = ParameterConvention.ALL
) -> int:
    """Number of trainable parameters of ``module``.

    Args:
        module: any network.
        convention: a :class:`ParameterConvention` or its value (``"all"``, ``"paper"``).

    Returns:
        The parameter count.

    Raises:
        ValueError: an unknown convention.
    """
    try:
        convention = ParameterConvention(convention)
    except ValueError:
        valid = ", ".join(c.value for c in ParameterConvention)
        raise ValueError(f"convention must be one of {valid}, got {convention!r}") from None
    if convention is ParameterConvention.ALL:
        return sum(p.numel() for p in module.parameters() if p.requires_grad)
    return sum(
        p.numel()
        for m in module.modules()
        if isinstance(m, _COUNTED)
        for p in m.parameters(recurse=False)
        if p.requires_grad
    )


def _layer_macs(m: nn.Module, x: Tensor, out: Tensor) -> int:
    if isinstance(m, nn.Linear):
        return out.numel() // out.shape[-1] * m.in_features * m.out_features
    k = 1
    for s in m.kernel_size:
        k *= s
    if isinstance(m, nn.ConvTranspose2d):
        # every input pixel scatters a k x k patch to C_out / groups channels
        return x.numel() * (m.out_channels // m.groups) * k
    return out.numel() * (m.in_channels // m.groups) * k


def count_macs(module: nn.Module, *inputs: Tensor) -> int:
    """Multiply-accumulates of one forward pass of ``module(*inputs)`` (conv/linear layers)."""
    total = 0

    def hook(m: nn.Module, args, out) -> None:
        nonlocal total
        total += _layer_macs(m, args[0], out)

    handles = [m.register_forward_hook(hook) for m in module.modules() if isinstance(m, _COUNTED)]
    try:
        with torch.no_grad():
            module(*inputs)
    finally:
        for h in handles:
            h.remove()
    return int(total)


def macs_per_megapixel(denoiser: nn.Module, channels: int | None = None) -> float:
    """Forward MACs of an :class:`ExposureDenoiser` per megapixel of the raw *mosaic*.

    A packed pixel carries ``channels`` mosaic pixels (4 for Bayer), so an ``s x s`` packed
    input is ``s**2 * channels`` mosaic pixels. Layer costs are affine in the input area
    (padded taps included; NAFNet's channel attention adds a constant per image), so the
    slope between two small squares whose sides are multiples of the stride is the exact
    per-pixel cost.
    """
    channels = int(channels or getattr(denoiser, "channels", 4))
    stride = int(getattr(denoiser, "stride", 1) or 1)
    side = stride * max(1, -(-16 // stride))
    p = next(denoiser.parameters())
    macs = []
    for s in (side, 2 * side):
        x = torch.zeros(1, channels, s, s, device=p.device, dtype=p.dtype)
        macs.append(count_macs(denoiser, x, x, x))
    per_packed_pixel = (macs[1] - macs[0]) / (3 * side * side)
    return per_packed_pixel * 1e6 / channels
