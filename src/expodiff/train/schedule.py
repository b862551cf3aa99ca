"""The paper's learning-rate schedule as a pure function of the step.

ExposureDiffusion (and ELD before it) train with Adam at ``lr`` = 1e-4, halve it at 50 % of
the run and drop to 1e-5 from 90 %. Being a function of the step alone (no scheduler object
with hidden state) makes ``--resume`` exact by construction.
"""

from __future__ import annotations

import math

__all__ = ["due", "learning_rate", "set_learning_rate"]


def learning_rate(
    step: int,
    total: int,
    *,
    lr: float = 1e-4,
    halve_at: float = 0.5,
    final_at: float = 0.9,
    final: float = 1e-5,
) -> float:
    """Learning rate of the optimiser step with 0-based index ``step`` out of ``total``.

    ``lr`` for steps before ``halve_at * total``, ``lr / 2`` until ``final_at * total`` and
    ``final`` from there on (the boundaries are rounded down to whole steps, as the original's
    epoch-based ``epoch == epochs // 2`` test does).
    """
    if total <= 0:
        raise ValueError(f"total must be positive, got {total}")
    if not 0.0 <= halve_at <= final_at <= 1.0:
        raise ValueError(f"need 0 <= halve_at ({halve_at}) <= final_at ({final_at}) <= 1")
    if step >= math.floor(final_at * total):
        return final
    if step >= math.floor(halve_at * total):
        return lr / 2.0
    return lr


def set_learning_rate(optimizer, value: float) -> None:
    """Set every parameter group's learning rate."""
    for group in optimizer.param_groups:
        group["lr"] = value


def due(every: int | None, step: int, end: int) -> bool:
    """Whether a periodic task (every ``every`` steps; 0/None: never) runs after ``step``.

    Never at ``end``: the run's last step has its own validation and checkpoint.
    """
    return bool(every) and step % every == 0 and step < end
