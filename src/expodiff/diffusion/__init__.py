"""The exposure process, the progressive sampler and the training objective.

Pure tensor math: no ``nn.Module`` state and no files; randomness comes from an optional
``torch.Generator``. See docs/method.md.
"""

from __future__ import annotations

from .losses import LossKind, TrainingLosses, poisson_kl, training_losses
from .process import ExposureProcess, Reexposure
from .sampler import SamplerStep, illuminance_correction, sample, sample_progressive

__all__ = [
    "ExposureProcess",
    "Reexposure",
    "SamplerStep",
    "sample",
    "sample_progressive",
    "illuminance_correction",
    "LossKind",
    "TrainingLosses",
    "training_losses",
    "poisson_kl",
]
