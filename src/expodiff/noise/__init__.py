"""Physics-based noise synthesis, camera profiles, calibration and dark shading.

* :mod:`~expodiff.noise.components`: the noise sources as batched torch functions (DN).
* :mod:`~expodiff.noise.model`: :class:`NoiseModel` (presets pg / eld / eld+bias / gaussian);
  ``synthesize(clean)`` returns a :class:`NoisyPair`. Its enums live in
  :mod:`~expodiff.kinds`, :class:`NoiseParams` in :mod:`~expodiff.noise.params`, the
  parameter drawing (ELD recipe, or fixed at an ISO) in :mod:`~expodiff.noise.parameter_draws`.
* :mod:`~expodiff.noise.camera`: the :class:`CameraProfile` dataclasses (their JSON files are
  read and written by :mod:`expodiff.io.profiles`).
* A ``NoiseConfig`` becomes a :class:`NoiseModel` in :func:`expodiff.build.build_noise_model`
  (this package never reads configs or files).
* :mod:`~expodiff.noise.calibrate` (with :mod:`~expodiff.noise.estimators`),
  :mod:`~expodiff.noise.dark_shading`: estimating a profile and dark-shading maps from a
  user's raw frames.

The closed sets (presets, components, ...) are defined in :mod:`expodiff.kinds` and
re-exported here for convenience. See docs/noise.md.
"""

from __future__ import annotations

from ..errors import NoiseModelError
from ..kinds import PRESET_COMPONENTS, BiasSource, GainSampling, NoiseComponent, NoisePreset
from .camera import CameraProfile, LogLinear, ProfileError
from .model import NoiseModel
from .pair import NoisyPair
from .params import NoiseParams

__all__ = [
    "PRESET_COMPONENTS",
    "BiasSource",
    "CameraProfile",
    "GainSampling",
    "LogLinear",
    "NoiseComponent",
    "NoiseModel",
    "NoiseModelError",
    "NoiseParams",
    "NoisePreset",
    "NoisyPair",
    "ProfileError",
]
