"""An exponential moving average of the weights (``train.ema_decay``).

With a constant learning rate the weights of successive steps wander around a minimum, and
two checkpoints a few hundred steps apart can differ by tenths of a dB on validation photos;
their average is better than most of them. :class:`WeightAverage` keeps that average while
training runs: after every optimiser step ``average += (1 - d) * (weights - average)`` with
``d = min(decay, (1 + n) / (10 + n))`` after ``n`` updates (a short warm-up, so an average
started late, e.g. on a resumed run that had none, follows the weights at first instead of
staying at its start). Validation and the final ``model/`` use the average; the checkpoint
keeps both (the raw weights continue training, the average continues averaging).
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator

import torch

from ..errors import ModelError
from .checkpoint import TrainerState

__all__ = ["WeightAverage", "start_average"]


class WeightAverage:
    """The moving average of ``model``'s floating-point parameters and buffers.

    Args:
        model: the network being trained (its current weights start the average).
        decay: the decay per optimiser step (0 < decay < 1; 0.999 averages ~1,000 steps).
    """

    def __init__(self, model: torch.nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"decay must be in (0, 1), got {decay}")
        self.decay = float(decay)
        self.updates = 0
        self.average = {
            k: v.detach().float().clone()
            for k, v in model.state_dict().items()
            if v.is_floating_point()
        }

    def step_decay(self) -> float:
        """The decay of the next update (warm-up: ``(1 + n) / (10 + n)`` until ``decay``)."""
        return min(self.decay, (1.0 + self.updates) / (10.0 + self.updates))

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        """Fold ``model``'s current weights into the average."""
        weight = 1.0 - self.step_decay()
        current = model.state_dict()
        for k, avg in self.average.items():
            avg.lerp_(current[k].detach().float(), weight)
        self.updates += 1

    def load(self, average: dict[str, torch.Tensor], updates: int) -> None:
        """Restore the average (by parameter name, as a checkpoint keeps it) and its count.

        Raises:
            KeyError: a parameter of the model missing from ``average``.
        """
        for k, avg in self.average.items():
            avg.copy_(average[k])
        self.updates = int(updates)

    @contextlib.contextmanager
    def applied(self, model: torch.nn.Module) -> Iterator[torch.nn.Module]:
        """``model`` with the averaged weights inside the block, its own ones after it."""
        state = model.state_dict()
        own = {k: state[k].detach().clone() for k in self.average}
        with torch.no_grad():
            for k, avg in self.average.items():
                state[k].copy_(avg)
        try:
            yield model
        finally:
            with torch.no_grad():
                for k, v in own.items():
                    state[k].copy_(v)


def start_average(
    model: torch.nn.Module, decay: float | None, resumed: TrainerState | None, *, warn: bool
) -> WeightAverage | None:
    """The run's :class:`WeightAverage` (None when ``decay`` is None): continued from a
    resumed checkpoint's average when it has one, else started from ``model``'s weights (a
    resumed run without one is told so when ``warn``).

    Raises:
        ModelError: the checkpoint's average does not match the model's parameters.
    """
    if decay is None:
        return None
    average = WeightAverage(model, decay)
    if resumed is None:
        return average
    if not resumed.ema_tensors:
        if warn:
            warnings.warn(
                f"the checkpoint at step {resumed.step} has no average of the weights: "
                "train.ema_decay starts one from its weights",
                stacklevel=3,
            )
        return average
    if set(resumed.ema_tensors) != set(average.average):
        raise ModelError(
            f"the checkpoint at step {resumed.step}: its average of the weights does not match "
            "the model's parameters"
        )
    average.load(resumed.ema_tensors, int(resumed.extra.get("ema_updates", 0)))
    return average
