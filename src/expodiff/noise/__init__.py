"""Physics-based noise synthesis, camera profiles, calibration and dark shading.

* :mod:`~expodiff.noise.components`: the noise sources as batched torch functions (DN).
* :mod:`~expodiff.noise.model`: :class:`NoiseModel` (presets pg / eld / eld+bias / gaussian);
  ``synthesize(clean)`` returns a :class:`NoisyPair`. Its enums live in
  :mod:`~expodiff.noise.kinds`, :class:`NoiseParams` in :mod:`~expodiff.noise.params`.
* :mod:`~expodiff.noise.profiles`: :func:`load_profile` and the JSON format of the
  :class:`CameraProfile` dataclasses of :mod:`~expodiff.noise.camera`.
* :mod:`~expodiff.noise.factory`: ``build_noise_model(NoiseConfig)`` (import it from there:
  it reads :mod:`expodiff.config`, which imports this package's enums).
* :mod:`~expodiff.noise.calibrate` (with :mod:`~expodiff.noise.estimators`),
  :mod:`~expodiff.noise.dark_shading`: estimating a profile and dark-shading maps from a
  user's raw frames.

See docs/noise.md.
"""

from __future__ import annotations

from .model import (
    PRESET_COMPONENTS,
    BiasSource,
    GainSampling,
    NoiseComponent,
    NoiseModel,
    NoiseModelError,
    NoiseParams,
    NoisePreset,
)
from .pair import NoisyPair
from .profiles import (
    CameraProfile,
    LogLinear,
    ProfileError,
    list_profiles,
    load_profile,
    load_profile_file,
)

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
    "list_profiles",
    "load_profile",
    "load_profile_file",
]
