"""Training objectives of ExposureDiffusion."""

from __future__ import annotations

from enum import Enum


class LossKind(str, Enum):
    """Per-step reconstruction loss: L1 (released models) or the Poisson KL of paper Eq. 11."""

    L1 = "l1"
    POISSON_KL = "poisson_kl"
