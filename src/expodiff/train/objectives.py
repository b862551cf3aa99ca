"""The training objectives on one batch: ExposureDiffusion / feed-forward, and Noise2Noise.

Both return ``(total, parts)``: the fp32 scalar to back-propagate and a dict of detached
per-part values for the logs (``loss_step1`` .. ``loss_stepT`` for the supervised objective).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import Tensor

from ..config import DiffusionConfig

__all__ = ["supervised_loss", "noise2noise_loss", "part_names"]


def part_names(train_steps: int, noise2noise: bool) -> list[str]:
    """The per-part columns the objective reports."""
    return [] if noise2noise else [f"loss_step{i + 1}" for i in range(train_steps)]


def supervised_loss(
    process,
    denoiser: Callable,
    pair,
    cfg: DiffusionConfig,
    *,
    generator: torch.Generator | None,
    autocast: AbstractContextManager,
    prepare: Callable[[Tensor], Tensor] = lambda t: t,
) -> tuple[Tensor, dict[str, Tensor]]:
    """Algorithm 1 (``expodiff.diffusion.training_losses``) on a :class:`NoisyPair`.

    ``cfg.train_steps`` network evaluations per sample (1: the feed-forward baseline), the
    configured loss, ARL auxiliary weight and step weights, and the input consistency inside
    the loop when ``cfg.train_input_consistency`` is set. ``prepare`` converts the batch's
    memory format (channels-last); ``autocast`` wraps the forward passes.
    """
    from ..diffusion.losses import training_losses
    from ..eval.corrections import sampler_correction

    pair = replace(pair, noisy=prepare(pair.noisy), clean=prepare(pair.clean))
    with autocast:
        out = training_losses(
            process,
            denoiser,
            pair,
            steps=cfg.train_steps,
            loss=cfg.loss,
            aux_weight=cfg.aux_weight,
            step_weights=cfg.step_weights,
            generator=generator,
            correct=sampler_correction(
                input_consistency_sigma=cfg.train_input_consistency_sigma,
                oracle_reference=pair.clean if cfg.oracle_illuminance_correction else None,
            ),
        )
    parts = {f"loss_step{i + 1}": v.detach().float() for i, v in enumerate(out.per_step)}
    return out.total.float(), parts


def noise2noise_loss(
    process,
    denoiser: Callable,
    noise_model,
    clean: Tensor,
    *,
    generator: torch.Generator | None,
    autocast: AbstractContextManager,
    prepare: Callable[[Tensor], Tensor] = lambda t: t,
) -> tuple[Tensor, dict[str, Tensor]]:
    """Noise2Noise (Lehtinen et al. 2018) with noisy-noisy pairs from the noise model.

    Two independent noisy realisations of each clean patch with the *same* system gain and
    ratio; the feed-forward network maps the first to the second under an L2 loss (whose
    minimiser is the mean of the target, the clean image, for zero-mean noise).

    Shape:
        clean: ``(B, C, H, W)`` raw_norm.
    """
    first = noise_model.synthesize(clean, generator=generator)
    second = noise_model.synthesize(
        clean, ratio=first.exposure_ratio, params=first.params, generator=generator
    )
    state = prepare(first.noisy)
    ones = torch.ones_like(first.exposure_ratio)
    photons = process.photon_level(state, ones, first.exposure_ratio, first.system_gain)
    with autocast:
        out = denoiser(state, photons, state)
    prediction = out if isinstance(out, Tensor) else out.prediction
    return F.mse_loss(prediction.float(), second.noisy.float()), {}
