"""expodiff: ExposureDiffusion for dark camera RAW photos.

Layers (see docs/architecture.md):
  physics/process  expodiff.sensor, expodiff.raw, expodiff.noise, expodiff.diffusion
  networks         expodiff.nets
  orchestration    expodiff.io, expodiff.data, expodiff.train, expodiff.eval, expodiff.cli
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
