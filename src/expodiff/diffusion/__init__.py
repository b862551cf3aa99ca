"""The exposure process, the progressive sampler and the training objective.

Pure tensor math: no ``nn.Module`` state and no files; randomness comes from an optional
``torch.Generator``. See docs/method.md.

Names are imported on first use, so that :mod:`expodiff.config` can import the enums of
:mod:`.kinds` without torch.
"""

from __future__ import annotations

from .._lazy import lazy_exports

__all__ = [
    "ExposureProcess",
    "Reexposure",
    "SamplerStep",
    "sample",
    "sample_progressive",
    "illuminance_correction",
    "low_frequency_consistency",
    "LossKind",
    "TrainingLosses",
    "training_losses",
    "poisson_kl",
]

# Public name -> the submodule that defines it.
_WHERE = {
    "ExposureProcess": "process",
    "Reexposure": "kinds",
    "SamplerStep": "sampler",
    "sample": "sampler",
    "sample_progressive": "sampler",
    "illuminance_correction": "sampler",
    "low_frequency_consistency": "consistency",
    "LossKind": "kinds",
    "TrainingLosses": "losses",
    "training_losses": "losses",
    "poisson_kl": "losses",
}


__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
