"""The exposure process, the progressive sampler and the training objective.

Pure tensor math: no ``nn.Module`` state and no files; randomness comes from an optional
``torch.Generator``. See docs/method.md.
"""

from __future__ import annotations

from ..kinds import LossKind, Reexposure
from .consistency import input_consistency, low_frequency_consistency
from .losses import TrainingLosses, poisson_kl, training_losses
from .process import ExposureProcess
from .sampler import Correction, SamplerStep, sample, sample_progressive

__all__ = [
    "ExposureProcess",
    "Reexposure",
    "SamplerStep",
    "sample",
    "sample_progressive",
    "Correction",
    "input_consistency",
    "low_frequency_consistency",
    "LossKind",
    "TrainingLosses",
    "training_losses",
    "poisson_kl",
]
