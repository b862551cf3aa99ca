"""The closed sets of the diffusion layer, without torch.

:mod:`expodiff.config` and the command-line parsers import these cheaply;
:mod:`expodiff.diffusion.process` and :mod:`expodiff.diffusion.losses` re-export them.
"""

from __future__ import annotations

from enum import Enum

__all__ = ["Reexposure", "LossKind"]


class Reexposure(str, Enum):
    """How the next, longer exposure is simulated from the current prediction.

    RESAMPLE_INPUT: the original input's photons plus a fresh Poisson draw of
        ``(c_next - 1) * prediction`` photons (what the official code does).
    ACCUMULATE: the current state plus a Poisson increment of ``(c_next - c_cur) * prediction``
        photons (paper Eq. 10).
    """

    RESAMPLE_INPUT = "resample"
    ACCUMULATE = "accumulate"


class LossKind(str, Enum):
    """Per-step reconstruction loss: L1 (released models) or the Poisson KL of paper Eq. 11."""

    L1 = "l1"
    POISSON_KL = "poisson_kl"
