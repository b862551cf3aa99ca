"""The one place where configuration objects become working objects.

The physics/process layer (:mod:`expodiff.noise`, :mod:`expodiff.diffusion`) and the networks
(:mod:`expodiff.nets`) take plain arguments and never read :mod:`expodiff.config`; the
orchestration layer (training, evaluation, the benchmark, the CLI) builds them from configs
through these functions:

* :func:`build_denoiser` / :func:`resolve_preset`: a ``ModelConfig`` -> an
  :class:`~expodiff.nets.denoiser.ExposureDenoiser` / its :class:`~expodiff.nets.registry.Preset`;
* :func:`load_denoiser`: a model folder (weights + resolved config, read by
  :mod:`expodiff.io.modelfiles`) -> the trained denoiser, loaded strictly;
* :func:`build_noise_model`: a ``NoiseConfig`` -> a :class:`~expodiff.noise.model.NoiseModel`
  (camera profiles resolved by name or file through :func:`resolve_profile`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

    from .config import ExperimentConfig, ModelConfig, NoiseConfig
    from .nets.denoiser import ExposureDenoiser
    from .nets.registry import Preset
    from .noise.camera import CameraProfile
    from .noise.model import NoiseModel

__all__ = [
    "build_denoiser",
    "load_denoiser",
    "resolve_preset",
    "build_noise_model",
    "resolve_profile",
]


def resolve_preset(cfg: ModelConfig) -> Preset:
    """The architecture ``cfg`` asks for: its preset with the sizes ``cfg`` sets overriding.

    Raises:
        ConfigError: unknown preset, a field that the backbone does not have, or bad sizes.
    """
    from .nets.registry import SIZE_FIELDS, preset_with_sizes

    return preset_with_sizes(cfg.preset, **{f: getattr(cfg, f) for f in SIZE_FIELDS})


def build_denoiser(
    cfg: ModelConfig, channels: int = 4, full_scale_dn: float | None = None
) -> ExposureDenoiser:
    """An :class:`ExposureDenoiser` as ``cfg`` describes it (weights freshly initialised).

    ``full_scale_dn``: the photon bookkeeping scale of the process the model runs in (the
    experiment's ``noise.full_scale_dn``; None: ELD's), used by ``input_transform``.
    """
    from .defaults import ELD_FULL_SCALE_DN
    from .nets.registry import denoiser_for_preset

    return denoiser_for_preset(
        resolve_preset(cfg),
        channels,
        condition_on_photons=cfg.condition_on_photons,
        condition_on_input=cfg.condition_on_input,
        prediction=cfg.prediction,
        pool_size=cfg.pool_size,
        global_middle=cfg.global_middle,
        input_transform=cfg.input_transform,
        full_scale_dn=ELD_FULL_SCALE_DN if full_scale_dn is None else full_scale_dn,
    )


def load_denoiser(
    path: str | Path, *, device: torch.device | str = "cpu"
) -> tuple[torch.nn.Module, ExperimentConfig]:
    """Build the denoiser a model folder's config describes and load its weights strictly.

    Args:
        path: a model folder, a checkpoint folder, or a ``.safetensors`` file with
            ``config.yaml`` beside it. Floating-point weights stored in another precision
            (fp16, bf16) are cast to the network's (fp32).
        device: where the network goes.

    Returns:
        ``(denoiser in eval mode, resolved ExperimentConfig)``.

    Raises:
        ModelError: a missing/corrupt file, an invalid config, or weights that do not match
            the network the config builds (names the file and the first difference).
    """
    from .errors import ConfigError, ModelError
    from .io.modelfiles import check_state_dict, read_model_folder

    state, config, weights_path = read_model_folder(path)
    try:
        denoiser = build_denoiser(config.model, full_scale_dn=config.noise.full_scale_dn)
    except (ConfigError, ValueError, KeyError) as exc:
        raise ModelError(f"{weights_path}: cannot build the configured model: {exc}") from None
    check_state_dict(denoiser, state, str(weights_path))
    # load_state_dict copies into the network's tensors, casting fp16/bf16 weights to fp32.
    denoiser.load_state_dict(state, strict=True)
    return denoiser.to(device).eval(), config


def resolve_profile(camera: str | Path) -> CameraProfile:
    """A packaged profile by name, or a profile file by path (``*.json`` or a path with ``/``).

    Raises:
        ProfileError: unknown camera name (the message lists the valid ones).
        InputFileError: a profile file that is missing or not JSON.
    """
    from .io.profiles import load_profile, load_profile_file

    text = str(camera)
    if text.lower().endswith(".json") or "/" in text or "\\" in text:
        return load_profile_file(text)
    return load_profile(text)


def build_noise_model(cfg: NoiseConfig) -> NoiseModel:
    """The noise model a ``NoiseConfig`` describes.

    ``cfg.components`` (when not empty) replaces the preset's component set; every other
    field maps onto the :class:`NoiseModel` argument of the same name.
    """
    from .noise.model import PRESET_COMPONENTS, NoiseModel

    components = cfg.components or PRESET_COMPONENTS[cfg.preset]
    return NoiseModel(
        components,
        [resolve_profile(c) for c in cfg.cameras],
        gain_sampling=cfg.gain_sampling,
        gain_range=cfg.gain_range,
        ratio_range=cfg.ratio_range,
        full_scale_dn=cfg.full_scale_dn,
        bias_source=cfg.bias_source,
        clip_white=cfg.clip_white,
        black_level_dn=cfg.black_level_dn,
    )
