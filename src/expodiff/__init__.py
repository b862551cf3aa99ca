"""expodiff: ExposureDiffusion for dark camera RAW photos.

``expodiff.enhance(path, ...)`` is the main job (:func:`expodiff.inference.api.enhance`).

Layers (see docs/architecture.md):
  physics/process  expodiff.sensor, expodiff.raw, expodiff.noise, expodiff.diffusion
  networks         expodiff.nets
  orchestration    expodiff.io, expodiff.data, expodiff.inference, expodiff.train,
                   expodiff.eval, expodiff.cli
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "enhance"]


def __getattr__(name: str):
    # The function, imported on first use, so ``import expodiff`` does not import torch.
    if name == "enhance":
        from .inference.api import enhance

        return enhance
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
