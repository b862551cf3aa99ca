"""Which torch device a run uses: ``auto`` / ``cpu`` / ``cuda`` / ``cuda:N``, and this
process's GPU under ``torchrun`` (shared by inference, evaluation and training)."""

from __future__ import annotations

import torch

from .errors import ConfigError

__all__ = ["resolve_device"]


def resolve_device(spec: str, local_rank: int = 0) -> torch.device:
    """``auto`` / ``cpu`` / ``cuda`` / ``cuda:N`` -> a device (``cuda``: this rank's GPU).

    Raises:
        ConfigError: CUDA requested but not available.
    """
    spec = (spec or "auto").lower()
    if spec == "auto":
        spec = "cuda" if torch.cuda.is_available() else "cpu"
    if spec.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"device {spec!r}: CUDA is not available on this machine")
        if spec == "cuda":
            return torch.device("cuda", local_rank % max(torch.cuda.device_count(), 1))
    try:
        return torch.device(spec)
    except RuntimeError:
        raise ConfigError(f"device {spec!r}: not a device (auto, cpu, cuda or cuda:N)") from None
