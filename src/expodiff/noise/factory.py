"""Build a :class:`~expodiff.noise.model.NoiseModel` from the experiment's ``NoiseConfig``.

Kept apart from :mod:`expodiff.noise.model` because :mod:`expodiff.config` imports the
model's enums; this module is the one place where the noise package reads the config.
"""

from __future__ import annotations

from pathlib import Path

from ..config import NoiseConfig
from .model import PRESET_COMPONENTS, NoiseModel
from .profiles import CameraProfile, load_profile, load_profile_file

__all__ = ["build_noise_model", "resolve_profile"]


def resolve_profile(camera: str | Path) -> CameraProfile:
    """A packaged profile by name, or a profile file by path (``*.json`` or a path with ``/``).

    Raises:
        ProfileError: unknown camera name (the message lists the valid ones).
        InputFileError: a profile file that is missing or not JSON.
    """
    text = str(camera)
    if text.lower().endswith(".json") or "/" in text or "\\" in text:
        return load_profile_file(text)
    return load_profile(text)


def build_noise_model(cfg: NoiseConfig) -> NoiseModel:
    """The noise model a ``NoiseConfig`` describes.

    ``cfg.components`` (when not empty) replaces the preset's component set; every other
    field maps onto the :class:`NoiseModel` argument of the same name.
    """
    components = cfg.components or PRESET_COMPONENTS[cfg.preset]
    profiles = [resolve_profile(c) for c in cfg.cameras]
    return NoiseModel(
        components,
        profiles,
        gain_sampling=cfg.gain_sampling,
        gain_range=cfg.gain_range,
        ratio_range=cfg.ratio_range,
        full_scale_dn=cfg.full_scale_dn,
        bias_source=cfg.bias_source,
        clip_white=cfg.clip_white,
        black_level_dn=cfg.black_level_dn,
    )
