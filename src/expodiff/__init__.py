"""expodiff: ExposureDiffusion for dark camera RAW photos.

Layers (see docs/architecture.md):
  physics/process  expodiff.sensor, expodiff.raw, expodiff.noise, expodiff.diffusion
  networks         expodiff.nets
  orchestration    expodiff.io, expodiff.data, expodiff.train, expodiff.eval, expodiff.cli
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "enhance"]


def __getattr__(name: str):
    # ``expodiff.enhance(...)`` without importing torch at ``import expodiff``: the subpackage
    # expodiff.enhance is callable as the function (see its docstring).
    if name == "enhance":
        import importlib

        return importlib.import_module(".enhance", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
