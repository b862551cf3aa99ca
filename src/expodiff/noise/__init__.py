"""Physics-based noise synthesis, camera profiles, calibration and dark shading.

* :mod:`~expodiff.noise.components`: the noise sources as batched torch functions (DN).
* :mod:`~expodiff.noise.model`: :class:`NoiseModel` (presets pg / eld / eld+bias / gaussian);
  ``synthesize(clean)`` returns a :class:`NoisyPair`. Its enums live in
  :mod:`~expodiff.noise.kinds`, :class:`NoiseParams` in :mod:`~expodiff.noise.params`, the
  parameter drawing (ELD recipe, or fixed at an ISO) in :mod:`~expodiff.noise.sampling`.
* :mod:`~expodiff.noise.profiles`: :func:`load_profile` and the JSON format of the
  :class:`CameraProfile` dataclasses of :mod:`~expodiff.noise.camera`.
* :mod:`~expodiff.noise.factory`: ``build_noise_model(NoiseConfig)`` (import it from there:
  it reads :mod:`expodiff.config`, which imports this package's enums).
* :mod:`~expodiff.noise.calibrate` (with :mod:`~expodiff.noise.estimators`),
  :mod:`~expodiff.noise.dark_shading`: estimating a profile and dark-shading maps from a
  user's raw frames.

Names are imported on first use, so that :mod:`expodiff.config` can import the enums of
:mod:`~expodiff.noise.kinds` without torch. See docs/noise.md.
"""

from __future__ import annotations

from .._lazy import lazy_exports

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

# Public name -> the submodule that defines it.
_WHERE = {
    "PRESET_COMPONENTS": "kinds",
    "BiasSource": "kinds",
    "CameraProfile": "profiles",
    "GainSampling": "kinds",
    "LogLinear": "profiles",
    "NoiseComponent": "kinds",
    "NoiseModel": "model",
    "NoiseModelError": "kinds",
    "NoiseParams": "params",
    "NoisePreset": "kinds",
    "NoisyPair": "pair",
    "ProfileError": "profiles",
    "list_profiles": "profiles",
    "load_profile": "profiles",
    "load_profile_file": "profiles",
}


__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
