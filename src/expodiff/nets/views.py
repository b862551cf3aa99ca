"""Geometric self-ensemble: a denoiser evaluated on flipped and transposed views of its input.

:class:`DihedralViews` wraps a denoiser ``denoiser(state, photon_level, noisy)`` and has the
same signature: it evaluates the denoiser on ``views`` dihedral transforms of its inputs
(every packed plane flipped or transposed on its own, the augmentation the networks are
trained with, :mod:`expodiff.data.augment`, so each view is an input of the training
distribution with the CFA phase kept), maps each prediction back and returns their mean
(EDSR's "self-ensemble", Lim et al. 2017). Inside the sampler this averages every step's
prediction, so the re-exposure draws its photons from the better estimate.

Each view costs one network evaluation; an equivariant denoiser (e.g. a pointwise one) gives
the same result with any number of views, up to float rounding. :data:`VIEW_ORDER` fixes
which transforms ``views`` = 1, 2, 4, 8 use: the identity, then the flips, then the
transposes (on held-out photographs, flips first gave the best 2 views).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

__all__ = ["ALLOWED_VIEWS", "VIEW_ORDER", "DihedralViews", "to_view", "from_view"]

# (vertical flip, horizontal flip, transpose after the flips) of view 0, 1, ...
VIEW_ORDER: tuple[tuple[bool, bool, bool], ...] = (
    (False, False, False),
    (False, True, False),
    (True, False, False),
    (True, True, False),
    (False, False, True),
    (False, True, True),
    (True, False, True),
    (True, True, True),
)
# Numbers of views with a symmetric set of transforms (the first 1, 2, 4 or all 8).
ALLOWED_VIEWS: tuple[int, ...] = (1, 2, 4, 8)


def to_view(x: Tensor, view: tuple[bool, bool, bool]) -> Tensor:
    """``x`` ``(..., H, W)`` seen in ``view``: flipped, then transposed (a view, no copy)."""
    vertical, horizontal, transpose = view
    dims = [d for d, on in ((-2, vertical), (-1, horizontal)) if on]
    if dims:
        x = torch.flip(x, dims)
    return x.transpose(-2, -1) if transpose else x


def from_view(x: Tensor, view: tuple[bool, bool, bool]) -> Tensor:
    """The inverse of :func:`to_view`: transposed back, then flipped back."""
    vertical, horizontal, transpose = view
    if transpose:
        x = x.transpose(-2, -1)
    dims = [d for d, on in ((-2, vertical), (-1, horizontal)) if on]
    return torch.flip(x, dims) if dims else x


class DihedralViews:
    """``denoiser`` averaged over ``views`` dihedral views of its input (module docstring).

    Args:
        denoiser: ``denoiser(state, photon_level, noisy)`` returning a prediction tensor or an
            object with ``.prediction`` (a :class:`~expodiff.diffusion.output.DenoiserOutput`).
        views: 1, 2, 4 or 8 (1 calls ``denoiser`` once, unchanged).
        wrap: called once per view with the view's ``(B, C, H, W)`` shape, returns the callable
            to evaluate for it (e.g. a tiler for that shape); None: ``denoiser`` itself.

    The call returns the mean prediction, float32 of the predictions' shape (a view of the
    mask and the ARL branches has no meaning averaged, so they are not returned).
    """

    def __init__(
        self,
        denoiser: Callable[..., Any],
        views: int,
        wrap: Callable[[Callable[..., Any], torch.Size], Callable[..., Any]] | None = None,
    ) -> None:
        if views not in ALLOWED_VIEWS:
            raise ValueError(f"views must be one of {ALLOWED_VIEWS}, got {views!r}")
        self.denoiser = denoiser
        self.views = int(views)
        self._wrap = wrap
        self._nets: dict[tuple[torch.Size, tuple[bool, bool, bool]], Callable[..., Any]] = {}

    def _net(self, shape: torch.Size, view: tuple[bool, bool, bool]) -> Callable[..., Any]:
        key = (shape, view)
        if key not in self._nets:
            self._nets[key] = (
                self.denoiser if self._wrap is None else self._wrap(self.denoiser, shape)
            )
        return self._nets[key]

    def __call__(self, state: Tensor, photon_level: Tensor | None, noisy: Tensor) -> Tensor:
        total: Tensor | None = None
        for view in VIEW_ORDER[: self.views]:
            seen = to_view(state, view).contiguous()
            level = None if photon_level is None else to_view(photon_level, view).contiguous()
            out = self._net(seen.shape, view)(seen, level, to_view(noisy, view).contiguous())
            prediction = from_view(out if isinstance(out, Tensor) else out.prediction, view)
            if total is None:
                total = prediction.float() if self.views == 1 else prediction.float().clone()
            else:
                total += prediction
        assert total is not None
        return total if self.views == 1 else total / self.views
