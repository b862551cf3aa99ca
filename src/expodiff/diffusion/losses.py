"""Training objectives of ExposureDiffusion (paper Algorithm 1, Eq. 11).

:func:`training_losses` runs the reverse process on a batch exactly as at inference, but on a
random schedule (:meth:`ExposureProcess.training_schedule`) and with straight-through Poisson
draws, so every step's loss back-propagates into the network through all earlier steps.

Notation (paper symbol -> name here):

============  =================  ==========================================================
paper         here               meaning
============  =================  ==========================================================
F(X_t)        ``prediction``     the step's estimate of the reference (after the ARL)
X_ref         ``reference``      the clean long exposure (``pair.clean``)
M, X̂, R̂       ``mask``, ...      ARL mask, direct branch (unclipped), residual branch
L_t           ``per_step[i]``    the loss of step ``i``
============  =================  ==========================================================

Objective::

    total = sum_i w_i * (rec(F_i, X_ref) + aux_weight * aux_i)
    aux_i = mean(M |X̂ - X_ref| + (1 - M) |clip(X_t + R̂, 0, 1) - X_ref|)     (FUSED only)

with ``rec`` the L1 (released models) or the Poisson KL of Eq. 11, and ``F_i`` after the
sampler's ``correct`` hook when one is given (the ground-truth-free input consistency, or the
official recipe's oracle brightness match). ``X̂`` enters the auxiliary
term unclipped so that its gradient survives where it leaves ``[0, 1]``. The step weights
``w_i`` are fixed, ``1/S`` each by default. The official code makes them learnable but
unconstrained (``clip(w_i, 0, 1)`` for the first steps, ``1 - sum(w)`` for the last), which
minimising the loss can drive to degenerate values; we do not reproduce that.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from ..kinds import LossKind
from .process import ExposureProcess, check_batch
from .sampler import Correction, sample_progressive

if TYPE_CHECKING:
    from ..noise.pair import NoisyPair

__all__ = [
    "LossKind",
    "TrainingLosses",
    "poisson_kl",
    "reconstruction_loss",
    "auxiliary_loss",
    "training_losses",
    "DEFAULT_KL_EPS",
]

# Shift of the Poisson KL: 1e-3 raw_norm is ~16 DN on ELD's 15583 scale, well below the signal
# of interest yet large enough to keep log(F / Y) bounded at black pixels.
DEFAULT_KL_EPS = 1e-3


def poisson_kl(prediction: Tensor, reference: Tensor, eps: float = DEFAULT_KL_EPS) -> Tensor:
    """Element-wise Poisson KL of Eq. 11, ``F log(F / Y) + Y - F``, on ``eps``-shifted values.

    Both arguments are shifted by ``eps`` so black pixels stay finite; the shifted form is
    still the KL divergence between two Poisson laws, so it is exactly zero where ``F == Y``
    and strictly positive elsewhere. It is computed in float64 (float32 on MPS) as
    ``Y ((1 + d) log1p(d) - d)`` with ``d = (F - Y) / Y``, which avoids the cancellation of the
    direct form when ``F`` is close to ``Y``. (The official code instead switches to L1 below
    a 0.2 threshold.)

    Args:
        prediction: F, raw_norm.
        reference: Y, raw_norm.
        eps: the shift.

    Returns:
        The divergence per element, in the inputs' dtype.

    Shape:
        broadcastable tensors -> their broadcast shape.
    """
    wide = torch.float32 if prediction.device.type == "mps" else torch.float64
    f = prediction.to(wide) + eps
    y = reference.to(wide) + eps
    d = (f - y) / y
    kl = y * ((1.0 + d) * torch.log1p(d) - d)
    return kl.clamp_min(0.0).to(torch.promote_types(prediction.dtype, reference.dtype))


def reconstruction_loss(
    prediction: Tensor, reference: Tensor, kind: LossKind = LossKind.L1, eps: float = DEFAULT_KL_EPS
) -> Tensor:
    """Mean per-element reconstruction loss (a scalar): L1 or :func:`poisson_kl`.

    Args:
        prediction: F, raw_norm ``(B, C, H, W)``.
        reference: the ground truth, same shape.
        kind: which loss.
        eps: the shift of :func:`poisson_kl`.
    """
    kind = LossKind(kind)
    if kind is LossKind.L1:
        return (prediction - reference).abs().mean()
    return poisson_kl(prediction, reference, eps).mean()


def auxiliary_loss(output, reference: Tensor) -> Tensor | None:
    """The ARL branches' mask-weighted L1 (a scalar), or None without ARL branches.

    Args:
        output: a :class:`~expodiff.diffusion.output.DenoiserOutput` (anything else, e.g. a
            plain tensor, has no branches).
        reference: the ground truth ``(B, C, H, W)``.
    """
    mask = getattr(output, "mask", None)
    direct = getattr(output, "direct", None)
    residual = getattr(output, "residual", None)
    if mask is None or direct is None or residual is None:
        return None
    per_pixel = mask * (direct - reference).abs() + (1.0 - mask) * (residual - reference).abs()
    return per_pixel.mean()


@dataclass(frozen=True)
class TrainingLosses:
    """The loss of one batch and its parts.

    Attributes:
        total: scalar to back-propagate, ``sum_i weights[i] * per_step[i]``.
        per_step: unweighted loss of each step (reconstruction + aux_weight * auxiliary).
        reconstruction: reconstruction term of each step.
        auxiliary: auxiliary ARL term of each step (zero for non-FUSED denoisers).
        weights: ``(S,)`` the step weights used.
        schedule: ``(B, S + 1)`` the exposure multiples drawn for this batch.
        prediction: the last step's prediction, detached (for logging metrics).
    """

    total: Tensor
    per_step: tuple[Tensor, ...]
    reconstruction: tuple[Tensor, ...]
    auxiliary: tuple[Tensor, ...]
    weights: Tensor
    schedule: Tensor
    prediction: Tensor

    def as_dict(self) -> dict[str, float]:
        """Plain floats for logging.

        Returns:
            ``loss`` and, per step ``i``, ``loss_step{i}``, ``rec_step{i}``, ``aux_step{i}``.
        """
        out = {"loss": float(self.total.detach())}
        for i, (p, r, a) in enumerate(
            zip(self.per_step, self.reconstruction, self.auxiliary, strict=True)
        ):
            out[f"loss_step{i}"] = float(p.detach())
            out[f"rec_step{i}"] = float(r.detach())
            out[f"aux_step{i}"] = float(a.detach())
        return out


def _step_weights(step_weights, steps: int, like: Tensor) -> Tensor:
    if step_weights is None:
        return torch.full((steps,), 1.0 / steps, dtype=like.dtype, device=like.device)
    w = torch.as_tensor(step_weights, dtype=like.dtype, device=like.device)
    if w.shape != (steps,):
        raise ValueError(f"step_weights needs {steps} values (one per step), got {tuple(w.shape)}")
    return w


def _batch_schedule(
    process: ExposureProcess,
    noisy: Tensor,
    clean: Tensor,
    r: Tensor,
    steps: int,
    schedule: Tensor | None,
    generator: torch.Generator | None,
) -> Tensor:
    """The batch's exposure multiples: ``schedule`` checked, or a random one drawn.

    Args:
        process: the exposure process (draws the random schedule).
        noisy: the noisy input ``(B, C, H, W)``.
        clean: the reference, same shape as ``noisy``.
        r: ``(B,)`` exposure ratios, as checked by :func:`~.process.check_batch`.
        steps: network evaluations per sample.
        schedule: ``(B, steps + 1)`` explicit multiples, or None to draw them.
        generator: source of the random schedule.

    Returns:
        ``(B, steps + 1)`` exposure multiples.

    Raises:
        ValueError: ``clean`` and ``noisy`` differ in shape, or ``schedule`` has the wrong one.
    """
    if clean.shape != noisy.shape:
        raise ValueError(f"clean {tuple(clean.shape)} and noisy {tuple(noisy.shape)} differ")
    if schedule is None:
        return process.training_schedule(r, steps, generator=generator)
    if schedule.shape != (noisy.shape[0], steps + 1):
        raise ValueError(
            f"schedule must be ({noisy.shape[0]}, {steps + 1}), got {tuple(schedule.shape)}"
        )
    return schedule


def _step_terms(
    prediction: Tensor, output, reference: Tensor, kind: LossKind, kl_eps: float, aux_weight: float
) -> tuple[Tensor, Tensor, Tensor]:
    """``(reconstruction, auxiliary, step loss)`` scalars of one step.

    The auxiliary term is a zero without ARL branches; the step loss is
    ``reconstruction + aux_weight * auxiliary`` (the reconstruction alone when
    ``aux_weight`` is 0).

    Args:
        prediction: F, the step's prediction ``(B, C, H, W)`` raw_norm (after corrections).
        output: what the denoiser returned (its ARL branches, if any).
        reference: the ground truth, same shape.
        kind: the reconstruction loss.
        kl_eps: the shift of :func:`poisson_kl`.
        aux_weight: weight of the ARL auxiliary term.
    """
    rec = reconstruction_loss(prediction, reference, kind, kl_eps)
    aux = auxiliary_loss(output, reference)
    if aux is None:
        aux = torch.zeros((), dtype=rec.dtype, device=rec.device)
    return rec, aux, (rec + aux_weight * aux if aux_weight else rec)


def _weighted_losses(
    terms: list[tuple[Tensor, Tensor, Tensor]],
    weights: Tensor,
    schedule: Tensor,
    prediction: Tensor,
) -> TrainingLosses:
    """The batch's :class:`TrainingLosses` from each step's :func:`_step_terms`.

    Args:
        terms: ``(reconstruction, auxiliary, step loss)`` of each step, in order.
        weights: ``(S,)`` the step weights.
        schedule: ``(B, S + 1)`` the exposure multiples of the batch.
        prediction: the last step's prediction (stored detached).
    """
    recs = tuple(rec for rec, _, _ in terms)
    auxs = tuple(aux for _, aux, _ in terms)
    per_step = tuple(step_loss for _, _, step_loss in terms)
    total = sum(w * p for w, p in zip(weights, per_step, strict=True))
    return TrainingLosses(
        total=total,
        per_step=per_step,
        reconstruction=recs,
        auxiliary=auxs,
        weights=weights,
        schedule=schedule,
        prediction=prediction.detach(),
    )


def training_losses(
    process: ExposureProcess,
    denoiser: Callable,
    pair: NoisyPair,
    *,
    steps: int = 3,
    loss: LossKind = LossKind.L1,
    aux_weight: float = 1.0,
    step_weights: Sequence[float] | Tensor | None = None,
    generator: torch.Generator | None = None,
    schedule: Tensor | None = None,
    kl_eps: float = DEFAULT_KL_EPS,
    correct: Correction | None = None,
) -> TrainingLosses:
    """Algorithm 1 on a batch with per-sample system gain and exposure ratio.

    Args:
        process: the exposure process.
        denoiser: ``denoiser(state, photon_level, noisy)`` (an :class:`ExposureDenoiser`).
        pair: a :class:`~expodiff.noise.pair.NoisyPair` (or anything with ``noisy``, ``clean``,
            ``system_gain`` and ``exposure_ratio``).
        steps: network evaluations per sample (1: the feed-forward baseline); the ``steps - 1``
            intermediate multiples are random integers in ``(1, r)``.
        loss: the reconstruction loss of every step.
        aux_weight: weight of the ARL auxiliary term.
        step_weights: ``steps`` weights (default: ``1/steps`` each). A tensor that requires
            grad is used as is (gradients flow into it).
        generator: source of the schedule and the Poisson draws.
        schedule: ``(B, steps + 1)`` explicit multiples instead of random ones.
        kl_eps: the shift of :func:`poisson_kl`.
        correct: the sampler's hook on every step's prediction, applied *before* its loss and
            before the next re-exposure, exactly as the sampler does at inference: with the
            input consistency (:func:`~expodiff.diffusion.consistency.input_consistency`) the
            network is trained inside the corrected loop it will be sampled with; the official
            code's recipe passes its ground-truth brightness match
            (:func:`expodiff.eval.corrections.oracle_correction`). Gradients flow through it.
            None (default): off.

    Returns:
        The :class:`TrainingLosses` of the batch (``total`` is what to back-propagate).

    Shape:
        pair.noisy, pair.clean ``(B, C, H, W)``; pair.system_gain, pair.exposure_ratio ``(B,)``.

    Raises:
        ValueError: mismatched shapes, bad ratios or gains, or step weights of the wrong length.
    """
    noisy, clean = pair.noisy, pair.clean
    r, k = check_batch(noisy, pair.exposure_ratio, pair.system_gain)
    schedule = _batch_schedule(process, noisy, clean, r, steps, schedule, generator)
    weights = _step_weights(step_weights, steps, clean)
    kind = LossKind(loss)
    terms, prediction = [], None
    trajectory = sample_progressive(
        process,
        denoiser,
        noisy,
        exposure_ratio=r,
        system_gain=k,
        schedule=schedule,
        generator=generator,
        correct=correct,
        straight_through=True,
    )
    for step in trajectory:
        prediction = step.prediction
        terms.append(_step_terms(prediction, step.output, clean, kind, kl_eps, aux_weight))
    assert prediction is not None
    return _weighted_losses(terms, weights, schedule, prediction)
