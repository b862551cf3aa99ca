"""Physics-based noise synthesis, camera profiles, calibration and dark shading.

* :mod:`~expodiff.noise.components`: the noise sources as batched torch functions (DN).
* :mod:`~expodiff.noise.model`: :class:`NoiseModel` (presets pg / eld / eld+bias / gaussian);
  ``synthesize(clean)`` returns a :class:`NoisyPair`. Its enums live in
  :mod:`~expodiff.noise.kinds`, :class:`NoiseParams` in :mod:`~expodiff.noise.params`, the
  parameter drawing (ELD recipe, or fixed at an ISO) in :mod:`~expodiff.noise.sampling`.
* :mod:`~expodiff.noise.camera`: the :class:`CameraProfile` dataclasses (their JSON files are
  read and written by :mod:`expodiff.io.profiles`).
* A ``NoiseConfig`` becomes a :class:`NoiseModel` in :func:`expodiff.build.build_noise_model`
  (this package never reads configs or files).
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
]

# Public name -> the submodule that defines it.
_WHERE = {
    "PRESET_COMPONENTS": "kinds",
    "BiasSource": "kinds",
    "CameraProfile": "camera",
    "GainSampling": "kinds",
    "LogLinear": "camera",
    "NoiseComponent": "kinds",
    "NoiseModel": "model",
    "NoiseModelError": "kinds",
    "NoiseParams": "params",
    "NoisePreset": "kinds",
    "NoisyPair": "pair",
    "ProfileError": "camera",
}


__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
