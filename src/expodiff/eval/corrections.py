"""The sampler's ``correct`` hooks an evaluation uses, the ground-truth oracle among them.

:func:`sampler_correction` builds the one hook a run needs: the input consistency
(:func:`~expodiff.diffusion.consistency.input_consistency`, ground-truth free), then, when a
reference is given, the official code's least-squares brightness match to the ground truth
(:func:`illuminance_correction`). The oracle reads the ground truth, so it is for protocol
comparisons and the official training recipe only, never for inference.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..diffusion.consistency import input_consistency
from ..diffusion.sampler import Correction

__all__ = ["illuminance_correction", "oracle_correction", "sampler_correction"]


def illuminance_correction(prediction: Tensor, reference: Tensor) -> Tensor:
    """Least-squares brightness match of ``prediction`` to the ground truth, per sample.

    The official code's ``IlluminanceCorrect``: clip the prediction to ``[0, 1]`` and scale it
    by ``<p, y> / <p, p>`` over the pixels where the reference is not saturated (``y != 1``);
    a zero prediction stays zero.

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


def oracle_correction(reference: Tensor) -> Correction:
    """The ``correct`` hook matching every prediction's brightness to ``reference``."""

    def correct(prediction: Tensor, noisy: Tensor, exposure_ratio: Tensor) -> Tensor:  # noqa: ARG001
        return illuminance_correction(prediction, reference)

    return correct


def sampler_correction(
    *, input_consistency_sigma: float | None = None, oracle_reference: Tensor | None = None
) -> Correction | None:
    """The sampler's ``correct`` hook: input consistency with a Gaussian of
    ``input_consistency_sigma`` packed pixels (None or 0: off), then the oracle brightness match to
    ``oracle_reference`` (None: off). None when both are off."""
    hooks = [input_consistency(input_consistency_sigma)] if input_consistency_sigma else []
    if oracle_reference is not None:
        hooks.append(oracle_correction(oracle_reference))
    if len(hooks) <= 1:
        return hooks[0] if hooks else None

    def correct(prediction: Tensor, noisy: Tensor, exposure_ratio: Tensor) -> Tensor:
        for hook in hooks:
            prediction = hook(prediction, noisy, exposure_ratio)
        return prediction

    return correct
