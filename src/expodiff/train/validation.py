"""Periodic validation of a training run: mean PSNR per exposure ratio, fp32/fp64 metrics."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

__all__ = ["validation_psnr"]


@torch.no_grad()
def validation_psnr(
    denoiser: torch.nn.Module,
    process: Any,
    dataset: Any,
    *,
    noise_model: Any,
    ratios: Sequence[float],
    steps: int,
    seed: int,
    max_images: int | None,
    device: torch.device,
    bf16: bool = False,
    oracle_illuminance_correction: bool = False,
    input_consistency_sigma: float | None = None,
) -> dict[float, float]:
    """Mean PSNR (dB, packed raw) per ratio of ``denoiser`` run by the sampler with ``steps``.

    Real pairs are evaluated at their own ratio; synthetic items at each of ``ratios`` with
    noise seeded per (seed, item, ratio) (:func:`expodiff.eval.pairs.pairs_from_dataset`), so
    the numbers are comparable across steps and runs. The module's train/eval mode is restored.

    Args:
        denoiser: the (unwrapped) network.
        process: the :class:`~expodiff.diffusion.process.ExposureProcess`.
        dataset: the validation split.
        noise_model: synthesises the noise of clean-only items (None for real pairs).
        ratios: synthetic validation ratios.
        steps: sampler steps S.
        seed: noise and sampler seed.
        max_images: images per ratio (None: all).
        device: where to run.
        bf16: bf16 autocast for the network (the metrics stay in fp32/fp64).
        oracle_illuminance_correction: the official code's GT brightness match (off).
        input_consistency_sigma: the sampler's input consistency (None: off).

    Returns:
        ``{ratio: mean PSNR}`` sorted by ratio.
    """
    from ..eval.methods import ModelMethod
    from ..eval.pairs import pairs_from_dataset
    from ..eval.protocols import evaluate_pairs

    was_training = denoiser.training
    denoiser.eval()
    try:
        method = ModelMethod(
            "model",
            denoiser,
            process,
            steps=steps,
            bf16=bf16,
            oracle_illuminance_correction=oracle_illuminance_correction,
            input_consistency_sigma=input_consistency_sigma,
        )
        pairs = pairs_from_dataset(
            dataset,
            noise_model=noise_model,
            ratios=ratios,
            seed=seed,
            max_images=max_images,
            device=device,
        )
        results = evaluate_pairs(pairs, [method], seed=seed, ssim_metric=False)
    finally:
        denoiser.train(was_training)
    by_ratio: dict[float, list[float]] = {}
    for r in results:
        by_ratio.setdefault(r.ratio, []).append(r.metrics["psnr"])
    return {k: sum(v) / len(v) for k, v in sorted(by_ratio.items())}
