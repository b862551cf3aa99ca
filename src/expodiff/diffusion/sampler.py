"""The progressive sampler of ExposureDiffusion (paper Algorithm 2).

Notation (``c = linspace(1, r, S + 1)``, :meth:`ExposureProcess.inference_schedule`):

====================  =======================================================
``noisy``             ``X_T``, the short exposure amplified by ``r`` (raw_norm)
``state``             ``X``, the current exposure, at multiple ``c_i`` of the input's
``prediction``        ``F_i = F(X, X c_i / (r K), X_T)``, the estimate of the reference
``exposure_ratio``    ``r``; ``system_gain``: ``K`` (DN per electron)
====================  =======================================================

1. ``X = X_T`` (``c_0 = 1``);
2. for ``i = 0 .. S-1``: ``F_i = correct(F(X, ...))``; record step ``i``; unless last,
   ``X = reexpose(X_T, X, F_i, c_i, c_{i+1})`` (Poisson photons at rate ``F_i``, Eq. 9-10);
3. the result is ``F_{S-1}``. ``S = 1`` is the feed-forward baseline.

The denoiser is any callable ``denoiser(state, photon_level, noisy) -> DenoiserOutput |
Tensor``, so oracle and dummy denoisers test the sampler in milliseconds. ``correct`` is the
one hook on every prediction before it is recorded and re-exposed (the input consistency of
:func:`~expodiff.diffusion.consistency.input_consistency`; an evaluation's ground-truth
oracle). The training loss runs the same loop (``straight_through=True``).
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from .output import DenoiserOutput
from .process import BatchScalar, ExposureProcess, check_batch

__all__ = ["Correction", "SamplerStep", "sample_progressive", "sample"]

# ``correct(prediction, noisy, exposure_ratio) -> prediction``, shapes (B, C, H, W) and (B,).
Correction = Callable[[Tensor, Tensor, Tensor], Tensor]


@dataclass(frozen=True)
class SamplerStep:
    """One reverse step. Tensors are references to the sampler's own (no copies).

    Attributes:
        index: step number, 0 .. S-1.
        exposure_multiple: ``(B,)`` ``c_i`` of the state the network saw.
        next_multiple: ``(B,)`` ``c_{i+1}`` the next state is exposed at (``r`` for the last).
        exposure_ratio: ``(B,)`` r.
        state: ``(B, C, H, W)`` the network input state (reference brightness).
        prediction: ``(B, C, H, W)`` ``F(state)``, after ``correct``.
        output: the denoiser's full output (its ``prediction`` before ``correct``).
        steps: S, the number of steps of this run.
    """

    index: int
    exposure_multiple: Tensor
    next_multiple: Tensor
    exposure_ratio: Tensor
    state: Tensor
    prediction: Tensor
    output: DenoiserOutput
    steps: int

    @property
    def is_last(self) -> bool:
        return self.index == self.steps - 1

    @property
    def mask(self) -> Tensor | None:
        """The adaptive residual layer's mask ``(B, 1, H, W)``, when the denoiser has one."""
        return self.output.mask


def sample_progressive(
    process: ExposureProcess,
    denoiser: Callable,
    noisy: Tensor,
    *,
    exposure_ratio: BatchScalar,
    system_gain: BatchScalar,
    steps: int = 3,
    schedule: Tensor | None = None,
    generator: torch.Generator | None = None,
    correct: Correction | None = None,
    straight_through: bool = False,
) -> Iterator[SamplerStep]:
    """Run the reverse process and yield one :class:`SamplerStep` per network evaluation.

    Does not change the autograd mode (wrap it in ``torch.inference_mode()`` for inference).

    Args:
        process: the exposure process (re-exposure variant, photon bookkeeping).
        denoiser: ``denoiser(state, photon_level, noisy)``; an :class:`ExposureDenoiser`, a
            :class:`TiledDenoiser`, or any callable returning a prediction tensor.
        noisy: ``(B, C, H, W)`` the short exposure amplified by ``r`` (raw_norm).
        exposure_ratio, system_gain: ``(B,)`` r and K (numbers are broadcast).
        steps: S, network evaluations (1: feed-forward).
        schedule: ``(B, S + 1)`` explicit multiples instead of ``linspace(1, r, S + 1)``.
        generator: source of the Poisson draws (seeded: deterministic results).
        correct: applied to every prediction before it is recorded and re-exposed.
        straight_through: straight-through Poisson draws (the training loss).

    Yields:
        :class:`SamplerStep` records ``0 .. S-1`` (references, no copies). Raises
        ValueError on bad shapes, ratios below 1, or non-positive gains.
    """
    r, k = check_batch(noisy, exposure_ratio, system_gain)
    if schedule is None:
        schedule = process.inference_schedule(r, steps)
    elif schedule.dim() != 2 or schedule.shape[0] != noisy.shape[0] or schedule.shape[1] < 2:
        raise ValueError(f"schedule must be (B, S + 1) with S >= 1, got {tuple(schedule.shape)}")
    n = schedule.shape[1] - 1
    state = noisy
    for i in range(n):
        c_i, c_next = schedule[:, i], schedule[:, i + 1]
        out = denoiser(state, process.photon_level(state, c_i, r, k), noisy)
        output = DenoiserOutput(out) if isinstance(out, Tensor) else out
        prediction = output.prediction if correct is None else correct(output.prediction, noisy, r)
        yield SamplerStep(i, c_i, c_next, r, state, prediction, output, n)
        if i + 1 < n:
            state = process.reexpose(
                noisy, state, prediction, c_i, c_next, r, k,
                generator=generator, straight_through=straight_through,
            )  # fmt: skip


def sample(
    process: ExposureProcess,
    denoiser: Callable,
    noisy: Tensor,
    *,
    inference: bool = True,
    **options: Any,
) -> Tensor:
    """The enhanced image: the last step's prediction of :func:`sample_progressive`.

    Args:
        process, denoiser, noisy, options: as in :func:`sample_progressive` (keywords).
        inference: run under ``torch.inference_mode()`` (default); False keeps the caller's
            autograd mode.

    Returns ``F_{S-1}``, the estimate of the reference exposure, ``(B, C, H, W)`` raw_norm.
    """
    with torch.inference_mode() if inference else contextlib.nullcontext():
        (last,) = deque(sample_progressive(process, denoiser, noisy, **options), maxlen=1)
    return last.prediction
