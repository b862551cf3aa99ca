"""Trained denoisers on disk: safetensors weights + the resolved YAML config beside them.

A *model folder* holds ``model.safetensors`` and ``config.yaml`` (the full resolved
:class:`~expodiff.config.ExperimentConfig` it was trained with: backbone, conditioning,
prediction mode, and the diffusion/noise settings inference needs). Checkpoint folders have
the same two files, so every checkpoint is also a loadable model. Loading is strict: the
weights must match the network the config builds key for key and shape for shape, and a
missing, truncated or corrupt file raises :class:`~expodiff.errors.ModelError` naming it.
Nothing is unpickled.
"""

from __future__ import annotations

from pathlib import Path

import torch
import yaml
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..config import ExperimentConfig, config_from_dict, dump_config
from ..defaults import MAX_INFERENCE_STEPS
from ..errors import ConfigError, ModelError

__all__ = [
    "MODEL_FILE",
    "CONFIG_FILE",
    "save_denoiser",
    "read_model_folder",
    "load_model_config",
    "check_inference_steps",
    "check_state_dict",
    "file_sha256",
]

MODEL_FILE = "model.safetensors"
CONFIG_FILE = "config.yaml"
WEIGHTS_FORMAT = "expodiff-denoiser/1"


def file_sha256(path: str | Path) -> str:
    """SHA-256 (hex) of a file, read in 1 MiB blocks: the identity of a model's weights that
    caches of evaluations and timings are keyed by."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _unwrap(module: torch.nn.Module) -> torch.nn.Module:
    return getattr(module, "module", module)  # DistributedDataParallel


def save_denoiser(
    folder: str | Path,
    denoiser: torch.nn.Module,
    config: ExperimentConfig,
    *,
    overwrite: bool = False,
    dtype: torch.dtype | None = None,
) -> Path:
    """Write ``folder/model.safetensors`` and ``folder/config.yaml`` (each atomically).

    Args:
        folder: the model folder (created if missing).
        denoiser: the network (a DistributedDataParallel wrapper is unwrapped).
        config: the resolved experiment config it was trained with.
        overwrite: replace existing files (else :class:`OutputFileError`).
        dtype: store floating-point tensors in this dtype (e.g. ``torch.float16`` for a
            half-size shipped model); None keeps the network's. :func:`expodiff.build.load_denoiser`
            casts them back to the network's dtype.

    Returns:
        ``folder``.
    """
    from .atomic import atomic_output

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    weights = {
        k: v.detach().to("cpu").contiguous() for k, v in _unwrap(denoiser).state_dict().items()
    }
    if dtype is not None:
        weights = {k: v.to(dtype) if v.is_floating_point() else v for k, v in weights.items()}
    with atomic_output(folder / MODEL_FILE, overwrite=overwrite) as tmp:
        save_file(weights, str(tmp), metadata={"format": WEIGHTS_FORMAT})
    with atomic_output(folder / CONFIG_FILE, overwrite=overwrite) as tmp:
        tmp.write_text(dump_config(config))
    return folder


def _paths(path: str | Path) -> tuple[Path, Path]:
    p = Path(path)
    if p.is_dir():
        return p / MODEL_FILE, p / CONFIG_FILE
    if p.suffix == ".safetensors":
        return p, p.with_name(CONFIG_FILE)
    if not p.exists():
        raise ModelError(
            f"{p}: model not found (expected a folder with {MODEL_FILE} and "
            f"{CONFIG_FILE}, or a .safetensors file with {CONFIG_FILE} beside it)"
        )
    raise ModelError(f"{p}: not a model (expected a folder or a .safetensors file)")


def load_model_config(path: str | Path) -> ExperimentConfig:
    """The resolved config of a model folder / weights file / checkpoint (strict)."""
    _, cfg_path = _paths(path)
    if not cfg_path.is_file():
        raise ModelError(f"{cfg_path}: model config missing")
    try:
        data = yaml.safe_load(cfg_path.read_text())
        return config_from_dict(data)  # bounds every number, inference_steps included
    except yaml.YAMLError:
        raise ModelError(f"{cfg_path}: model config is not valid YAML") from None
    except ConfigError as exc:
        raise ModelError(f"{cfg_path}: invalid model config: {exc}") from None


def check_inference_steps(config: ExperimentConfig, where: str) -> None:
    """Raise :class:`ModelError` unless the config's sampler steps (network evaluations per
    image) are within 1 to ``MAX_INFERENCE_STEPS``, the bound of ``--steps``: for configs
    built in code (a config file's are checked by the loader, :mod:`expodiff.config.bounds`)."""
    steps = config.diffusion.inference_steps
    if not 1 <= steps <= MAX_INFERENCE_STEPS:
        raise ModelError(
            f"{where}: diffusion.inference_steps must be 1 to {MAX_INFERENCE_STEPS} (network "
            f"evaluations per image), got {steps}"
        )


def check_state_dict(module: torch.nn.Module, state: dict[str, torch.Tensor], where: str) -> None:
    """Raise ModelError unless ``state`` has exactly the module's keys, shapes and dtypes."""
    expected = module.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = [
        f"{k} {tuple(state[k].shape)} vs {tuple(expected[k].shape)}"
        for k in sorted(set(expected) & set(state))
        if tuple(state[k].shape) != tuple(expected[k].shape)
    ]
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} tensors (e.g. {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected tensors (e.g. {unexpected[0]})")
        if wrong:
            parts.append(f"{len(wrong)} shape mismatches (e.g. {wrong[0]})")
        raise ModelError(f"{where}: weights do not match the model config: " + "; ".join(parts))


def read_model_folder(path: str | Path) -> tuple[dict[str, torch.Tensor], ExperimentConfig, Path]:
    """The weights and the resolved config of a model folder, read and checked as files.

    :func:`expodiff.build.load_denoiser` builds the network the config describes and loads
    these weights into it.

    Args:
        path: a model folder, a checkpoint folder, or a ``.safetensors`` file with
            ``config.yaml`` beside it.

    Returns:
        ``(state dict as stored, resolved ExperimentConfig, path of the weights file)``.

    Raises:
        ModelError: a missing or corrupt file, or an invalid config (names the file).
    """
    weights_path, _ = _paths(path)
    config = load_model_config(path)
    if not weights_path.is_file():
        raise ModelError(f"{weights_path}: model weights missing")
    try:
        state = load_file(str(weights_path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelError(f"{weights_path}: corrupt weights file ({exc})") from None
    return state, config, weights_path
