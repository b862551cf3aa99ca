"""The models ``expodiff enhance`` runs: the packaged default, a model folder, or a callable.

The default model ships inside the package as a model folder
(``expodiff/models/default/``: ``model.safetensors``, fp16 allowed, ``config.yaml`` and a
``MODEL_CARD.md``) and is loaded without any network access. Any folder written by
``expodiff train`` (a run's ``checkpoints/...`` or a saved model) loads the same way
(:func:`expodiff.build.load_denoiser`: strict, no pickles).

:class:`EnhanceModel` pairs the network with the config settings inference needs: the DN
scale of its photon bookkeeping, the default step count, the re-exposure variant, and the
ranges of K and exposure ratio it was trained on (for warnings and the blind-K clamp).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import torch

from ..config import ExperimentConfig
from ..defaults import GAIN_RANGE
from ..diffusion.process import ExposureProcess
from ..errors import ModelError
from ..kinds import GainSampling

__all__ = [
    "DEFAULT_MODEL_NAME",
    "EnhanceModel",
    "packaged_model_path",
    "packaged_model_names",
    "default_model_path",
    "trained_gain_range",
    "load_model",
]

DEFAULT_MODEL_NAME = "default"


def packaged_model_path(name: str = DEFAULT_MODEL_NAME) -> Path:
    """The folder of a model shipped inside the package (it may be empty or missing)."""
    return Path(str(resources.files("expodiff") / "models" / name))


def packaged_model_names() -> list[str]:
    """Names of the models shipped inside the package (``default``, ...), sorted."""
    from ..io.modelfiles import CONFIG_FILE, MODEL_FILE

    root = Path(str(resources.files("expodiff") / "models"))
    if not root.is_dir():
        return []
    return sorted(
        p.name for p in root.iterdir() if (p / MODEL_FILE).is_file() and (p / CONFIG_FILE).is_file()
    )


def _model_folder(model: str | Path) -> tuple[Path, str]:
    """``(folder, name for messages)`` of a path or a packaged model's name.

    An existing path wins; a bare name (no folder separator, no suffix) is a packaged
    model's, and one the package does not have is an error listing the names it has.
    """
    path = Path(model)
    if path.exists() or str(model) == "":
        return path, str(path)
    text = str(model)
    if "/" not in text and "\\" not in text and not path.suffix:
        names = packaged_model_names()
        if text in names:
            return packaged_model_path(text), text
        raise ModelError(
            f"--model {text}: neither a model folder nor a packaged model; packaged: "
            f"{', '.join(names) or '(none)'} (or give a model folder's path)"
        )
    return path, text


def default_model_path() -> Path | None:
    """The packaged default model folder, or None while the package has no weights in it."""
    from ..io.modelfiles import CONFIG_FILE, MODEL_FILE

    folder = packaged_model_path()
    if (folder / MODEL_FILE).is_file() and (folder / CONFIG_FILE).is_file():
        return folder
    return None


def mean_electrons(mean_norm: float, system_gain: float, full_scale_dn: float) -> float:
    """Mean photo-electrons per pixel of a dark input whose mean raw_norm is ``mean_norm``
    (K in DN per electron on the ``full_scale_dn`` scale): its signal level."""
    return float(mean_norm) * float(full_scale_dn) / float(system_gain)


def trained_gain_range(config: ExperimentConfig) -> tuple[float, float]:
    """The range of K (model scale) the config trained on: ``noise.gain_range`` for the ELD
    range sampling, else the span of its cameras' calibrated ``[gain_min, gain_max]``."""
    noise = config.noise
    if noise.gain_sampling is GainSampling.ELD_RANGE:
        return float(noise.gain_range[0]), float(noise.gain_range[1])
    from ..build import resolve_profile

    profiles = [resolve_profile(c).rescaled(noise.full_scale_dn) for c in noise.cameras]
    return min(p.gain_min for p in profiles), max(p.gain_max for p in profiles)


@dataclass(frozen=True, eq=False)
class EnhanceModel:
    """A denoiser ready for enhancement and what inference needs to know about it.

    Attributes:
        denoiser: ``denoiser(state, photon_level, noisy)`` (an ``ExposureDenoiser`` in
            inference mode, or any callable with that signature, e.g. an oracle in tests).
        config: the resolved experiment config it was trained with (defaults for a bare
            callable).
        name: how to name it in messages (the folder, or ``"default"``).
        path: the model folder, or None.
        device: where its weights live.
        gain_range: K range it was trained on (model scale).
    """

    denoiser: Callable[..., Any]
    config: ExperimentConfig = field(default_factory=ExperimentConfig)
    name: str = "model"
    path: Path | None = None
    device: torch.device = torch.device("cpu")
    gain_range: tuple[float, float] = GAIN_RANGE

    @property
    def full_scale_dn(self) -> float:
        return float(self.config.noise.full_scale_dn)

    @property
    def ratio_range(self) -> tuple[float, float]:
        lo, hi = self.config.noise.ratio_range
        return float(lo), float(hi)

    @property
    def inference_steps(self) -> int:
        return int(self.config.diffusion.inference_steps)

    def input_electrons(self, dark_norm: torch.Tensor, system_gain: float) -> float:
        """Mean photo-electrons per pixel of a dark input (its packed raw_norm before the ratio;
        K on :attr:`full_scale_dn`'s scale): what the config's signal rules read (the
        ``diffusion`` methods ``steps_for_signal``, ``consistency_for_signal`` and
        ``consistency_keeps_offset``)."""
        mean = float(dark_norm.clamp(0.0, 1.0).mean())
        return mean_electrons(mean, system_gain, self.full_scale_dn)

    def views_for_steps(self, steps: int) -> int:
        """Dihedral views per evaluation at ``steps`` steps: the model's
        ``diffusion.inference_evaluations`` rule (1 when it has none)."""
        return self.config.diffusion.views_for_steps(steps)

    @property
    def channels(self) -> int | None:
        """Packed channels the network takes (None: unknown, a bare callable)."""
        value = getattr(self.denoiser, "channels", None)
        return int(value) if isinstance(value, int) else None

    def process(self) -> ExposureProcess:
        """The exposure process of its config (DN scale and re-exposure variant)."""
        return ExposureProcess(self.full_scale_dn, self.config.diffusion.reexposure)


def _resolve_device(device: str | torch.device) -> torch.device:
    from ..devices import resolve_device

    if isinstance(device, torch.device):
        return device
    return resolve_device(str(device))


def load_model(
    model: str | Path | EnhanceModel | Callable[..., Any] | None = None,
    *,
    device: str | torch.device = "auto",
    config: ExperimentConfig | None = None,
) -> EnhanceModel:
    """The model to enhance with.

    Args:
        model: None (the packaged default), the name of a packaged model (``default``:
            :func:`packaged_model_names`), a model folder / ``.safetensors`` file,
            an :class:`EnhanceModel` (returned as is), or an already loaded denoiser (any
            callable with the denoiser's signature; an ``nn.Module`` is moved to ``device``
            and put in inference mode).
        device: ``auto`` (CUDA when available), ``cpu``, ``cuda`` or ``cuda:N``.
        config: the experiment config of a bare denoiser (default: the package defaults).

    Returns:
        The :class:`EnhanceModel`.

    Raises:
        ModelError: an empty name, no packaged default model, a missing or corrupt file, or
            weights that do not match their config.
        ConfigError: CUDA requested but not available.
    """
    if isinstance(model, EnhanceModel):
        return model
    if isinstance(model, str) and not model.strip():
        raise ModelError(
            "the model name is empty; give a packaged model name (expodiff models lists "
            "them), a model folder, or leave --model out for the default model"
        )
    dev = _resolve_device(device)
    if model is None or isinstance(model, (str, Path)):
        from ..build import load_denoiser

        if model is None:
            path = default_model_path()
            if path is None:
                raise ModelError(
                    f"{packaged_model_path()}: the package holds no default model yet; "
                    "pass a trained model with --model PATH"
                )
            name = DEFAULT_MODEL_NAME
        else:
            path, name = _model_folder(model)
        denoiser, cfg = load_denoiser(path, device=dev)
        denoiser = denoiser.for_inference()
        return EnhanceModel(denoiser, cfg, name, path, dev, trained_gain_range(cfg))
    if not callable(model):
        raise TypeError(f"model must be a path, an EnhanceModel or a callable, got {model!r}")
    cfg = config or ExperimentConfig()
    from ..io.modelfiles import check_inference_steps

    check_inference_steps(cfg, f"{type(model).__name__}: its config")
    if isinstance(model, torch.nn.Module):
        model = model.to(dev)
        for_inference = getattr(model, "for_inference", None)
        model = for_inference() if for_inference is not None else model.eval()
    name = type(model).__name__
    return EnhanceModel(model, cfg, name, None, dev, trained_gain_range(cfg))
