"""The progressive sampler of ExposureDiffusion (paper Algorithm 2).

Algorithm, with ``c = linspace(1, r, S + 1)`` (:meth:`ExposureProcess.inference_schedule`):

1. ``X = X_T`` (the amplified input, multiple ``c_0 = 1``);
2. for ``i = 0 .. S-1``: ``F_i = F(X, X * c_i / (r K), X_T)``; record step ``i``; unless it
   is the last step, ``X = reexpose(X_T, X, F_i, c_i, c_{i+1})`` (Poisson photons at rate
   ``F_i``, Eq. 9-10);
3. the result is ``F_{S-1}``.

The network runs ``S`` times, on the states at ``c_0 .. c_{S-1}``; ``S = 1`` is the
feed-forward baseline.

The sampler accepts any callable with the denoiser's signature
``denoiser(state, photon_level, noisy) -> DenoiserOutput | Tensor``, so oracle and dummy
denoisers test it in milliseconds. It does not change the autograd mode: wrap it in
``torch.inference_mode()`` for inference (:func:`sample` does).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch import Tensor

from .consistency import low_frequency_consistency
from .output import DenoiserOutput
from .process import BatchScalar, ExposureProcess, as_batch_vector

__all__ = [
    "SamplerStep",
    "sample_progressive",
    "sample",
    "illuminance_correction",
    "evaluate_denoiser",
    "run_schedule",
    "check_batch",
]


@dataclass(frozen=True)
class SamplerStep:
    """One reverse step. Tensors are references to the sampler's own (no copies).

    Attributes:
        index: step number, 0 .. S-1.
        exposure_multiple: ``(B,)`` ``c_i`` of the state the network saw.
        next_multiple: ``(B,)`` ``c_{i+1}`` the next state is exposed at (``r`` for the last).
        exposure_ratio: ``(B,)`` r.
        state: ``(B, C, H, W)`` the network input state (reference brightness).
        prediction: ``(B, C, H, W)`` ``F(state)``, after the oracle correction when enabled.
        mask: the adaptive residual layer's mask ``(B, 1, H, W)``, when the denoiser has one.
        steps: S, the number of steps of this run.
    """

    index: int
    exposure_multiple: Tensor
    next_multiple: Tensor
    exposure_ratio: Tensor
    state: Tensor
    prediction: Tensor
    mask: Tensor | None = None
    steps: int = 1

    @property
    def is_last(self) -> bool:
        return self.index == self.steps - 1


def evaluate_denoiser(
    denoiser: Callable, state: Tensor, photon_level: Tensor, noisy: Tensor
) -> tuple[Tensor, DenoiserOutput | None]:
    """Call ``denoiser(state, photon_level, noisy)``.

    Returns:
        ``(prediction, output)``: the prediction tensor and the full
        :class:`~expodiff.diffusion.output.DenoiserOutput` (None when the callable returned a
        plain tensor).
    """
    out = denoiser(state, photon_level, noisy)
    if isinstance(out, Tensor):
        return out, None
    return out.prediction, out


def illuminance_correction(prediction: Tensor, reference: Tensor) -> Tensor:
    """Least-squares brightness match of ``prediction`` to the ground truth, per sample.

    The official code's ``IlluminanceCorrect``: clip the prediction to ``[0, 1]`` and scale it
    by ``<p, y> / <p, p>`` over the pixels where the reference is not saturated (``y != 1``);
    a zero prediction stays zero. An ORACLE: it reads the ground truth, so it is for protocol
    comparisons only, never for inference.

    Args:
        prediction: the estimate, raw_norm.
        reference: the ground truth, raw_norm.

    Returns:
        The rescaled, clipped prediction.

    Shape:
        ``(B, ...)`` both -> ``(B, ...)``.
    """
    if prediction.shape != reference.shape:
        raise ValueError(
            f"prediction {tuple(prediction.shape)} and reference {tuple(reference.shape)} differ"
        )
    p = prediction.clamp(0.0, 1.0)
    valid = (reference != 1).to(p.dtype)
    dims = tuple(range(1, p.dim()))
    num = (p * reference * valid).sum(dims)
    den = (p * p * valid).sum(dims)
    scale = torch.where(
        den > 0, num / den.clamp_min(torch.finfo(p.dtype).tiny), torch.ones_like(den)
    )
    return p * scale.reshape(-1, *([1] * (p.dim() - 1)))


def check_batch(
    noisy: Tensor, exposure_ratio: BatchScalar, system_gain: BatchScalar
) -> tuple[Tensor, Tensor]:
    """Validate a batch and return ``(r, K)`` as ``(B,)`` tensors.

    Raises:
        ValueError: ``noisy`` is not 4-D, a gain is not finite and positive, or a ratio has
            the wrong shape.
    """
    if noisy.dim() != 4:
        raise ValueError(f"noisy must be (B, C, H, W), got {tuple(noisy.shape)}")
    b = noisy.shape[0]
    r = as_batch_vector(exposure_ratio, b, like=noisy, name="exposure_ratio")
    k = as_batch_vector(system_gain, b, like=noisy, name="system_gain")
    if bool(torch.any(k <= 0)) or not bool(torch.all(torch.isfinite(k))):
        raise ValueError(f"system_gain must be finite and > 0, got {k.tolist()}")
    return r, k


def run_schedule(
    process: ExposureProcess,
    denoiser: Callable,
    noisy: Tensor,
    schedule: Tensor,
    exposure_ratio: Tensor,
    system_gain: Tensor,
    *,
    generator: torch.Generator | None = None,
    reference: Tensor | None = None,
    oracle_illuminance_correction: bool = False,
    straight_through: bool = False,
    input_consistency_sigma: float | None = None,
) -> Iterator[tuple[int, Tensor, Tensor, DenoiserOutput | None, Tensor]]:
    """The loop shared by sampling and training (steps 1-2 of the algorithm above).

    Args:
        process, denoiser, noisy, generator, reference, oracle_illuminance_correction: as in
            :func:`sample_progressive`.
        schedule: ``(B, S + 1)`` exposure multiples; the denoiser runs on ``c_0 .. c_{S-1}``.
        exposure_ratio, system_gain: ``(B,)`` r and K.
        straight_through: straight-through Poisson draws (training).
        input_consistency_sigma: as in :func:`sample_progressive`.

    Yields:
        ``(i, state, prediction, output, c_i)`` per step; ``output`` is the denoiser's
        :class:`DenoiserOutput` (None for plain-tensor denoisers).
    """
    if oracle_illuminance_correction and reference is None:
        raise ValueError("oracle_illuminance_correction needs the reference")
    steps = schedule.shape[1] - 1
    state = noisy
    for i in range(steps):
        c_i = schedule[:, i]
        photons = process.photon_level(state, c_i, exposure_ratio, system_gain)
        prediction, output = evaluate_denoiser(denoiser, state, photons, noisy)
        if input_consistency_sigma:
            prediction = low_frequency_consistency(
                prediction, noisy, exposure_ratio, sigma_px=input_consistency_sigma
            )
        if oracle_illuminance_correction:
            prediction = illuminance_correction(prediction, reference)
        yield i, state, prediction, output, c_i
        if i + 1 < steps:
            state = process.reexpose(
                noisy,
                state,
                prediction,
                c_i,
                schedule[:, i + 1],
                exposure_ratio,
                system_gain,
                generator=generator,
                straight_through=straight_through,
            )


def sample_progressive(
    process: ExposureProcess,
    denoiser: Callable,
    noisy: Tensor,
    *,
    exposure_ratio: BatchScalar,
    system_gain: BatchScalar,
    steps: int = 3,
    generator: torch.Generator | None = None,
    reference: Tensor | None = None,
    oracle_illuminance_correction: bool = False,
    schedule: Tensor | None = None,
    input_consistency_sigma: float | None = None,
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
        generator: source of the Poisson draws (seeded: deterministic results).
        reference: the ground truth, needed only by the oracle correction.
        oracle_illuminance_correction: rescale every prediction to the reference (the official
            code's evaluation behaviour). Reads the ground truth: protocol comparisons only.
        schedule: ``(B, S + 1)`` explicit multiples instead of ``linspace(1, r, S + 1)``.
        input_consistency_sigma: when set, every prediction takes the input's low
            frequencies (a Gaussian of this many packed pixels) before the next re-exposure
            (:func:`~expodiff.diffusion.consistency.low_frequency_consistency`). Reads only
            the input, never the reference. None (default): off.

    Yields:
        :class:`SamplerStep` records ``0 .. S-1`` (references, no copies).

    Shape:
        noisy ``(B, C, H, W)``; every record's state and prediction ``(B, C, H, W)``.

    Raises:
        ValueError: bad shapes, ratios below 1, non-positive gains, or the oracle correction
            without a reference.
    """
    r, k = check_batch(noisy, exposure_ratio, system_gain)
    if schedule is None:
        schedule = process.inference_schedule(r, steps)
    elif schedule.dim() != 2 or schedule.shape[0] != noisy.shape[0] or schedule.shape[1] < 2:
        raise ValueError(f"schedule must be (B, S + 1) with S >= 1, got {tuple(schedule.shape)}")
    n = schedule.shape[1] - 1
    for i, state, prediction, output, c_i in run_schedule(
        process,
        denoiser,
        noisy,
        schedule,
        r,
        k,
        generator=generator,
        reference=reference,
        oracle_illuminance_correction=oracle_illuminance_correction,
        input_consistency_sigma=input_consistency_sigma,
    ):
        yield SamplerStep(
            index=i,
            exposure_multiple=c_i,
            next_multiple=schedule[:, i + 1],
            exposure_ratio=r,
            state=state,
            prediction=prediction,
            mask=getattr(output, "mask", None),
            steps=n,
        )


def sample(
    process: ExposureProcess,
    denoiser: Callable,
    noisy: Tensor,
    *,
    exposure_ratio: BatchScalar,
    system_gain: BatchScalar,
    steps: int = 3,
    generator: torch.Generator | None = None,
    reference: Tensor | None = None,
    oracle_illuminance_correction: bool = False,
    schedule: Tensor | None = None,
    inference: bool = True,
    input_consistency_sigma: float | None = None,
) -> Tensor:
    """The enhanced image: the last step's prediction of :func:`sample_progressive`.

    Args:
        process, denoiser, noisy, exposure_ratio, system_gain, steps, generator, reference,
            oracle_illuminance_correction, schedule, input_consistency_sigma: as in
            :func:`sample_progressive`.
        inference: run under ``torch.inference_mode()`` (default); False keeps the caller's
            autograd mode.

    Returns:
        ``F_{S-1}``, the estimate of the reference exposure, raw_norm in ``[0, 1]``.

    Shape:
        noisy ``(B, C, H, W)`` -> ``(B, C, H, W)``.
    """
    ctx = torch.inference_mode() if inference else contextlib.nullcontext()
    last = None
    with ctx:
        for step in sample_progressive(
            process,
            denoiser,
            noisy,
            exposure_ratio=exposure_ratio,
            system_gain=system_gain,
            steps=steps,
            generator=generator,
            reference=reference,
            oracle_illuminance_correction=oracle_illuminance_correction,
            schedule=schedule,
            input_consistency_sigma=input_consistency_sigma,
        ):
            last = step
    assert last is not None
    return last.prediction
