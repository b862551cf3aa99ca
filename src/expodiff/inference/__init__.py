"""Enhancing dark raw photos: the library behind :func:`expodiff.enhance` and the
``expodiff enhance`` command (:mod:`expodiff.cli.enhance`).

Modules (see docs/enhance.md):

* :mod:`~expodiff.inference.api`: :func:`enhance` and :class:`EnhanceResult`;
* :mod:`~expodiff.inference.ratio`: the exposure ratio (given, EXIF, or brightness);
* :mod:`~expodiff.inference.gain`: the system gain K (the noise level of a file,
  :func:`~expodiff.inference.gain.resolve_gain`)
  (given, camera profile, or blind estimate from the image);
* :mod:`~expodiff.inference.model_loading`: the packaged default model and model loading;
* :mod:`~expodiff.inference.source`, :mod:`~expodiff.inference.trajectories`: inputs and
  sampling;
* :mod:`~expodiff.inference.pipeline`: files, folders, outputs and uncertainty maps;
* :mod:`~expodiff.inference.darken`: simulate a dark shot from a well-exposed raw.

Names are imported lazily, so ``import expodiff.inference`` stays cheap.
"""

from __future__ import annotations

import importlib

__all__ = [
    "enhance",
    "EnhanceOptions",
    "EnhanceResult",
    "EnhanceTimings",
    "EnhanceWarning",
    "EnhanceModel",
    "load_model",
    "default_model_path",
    "darken_frame",
]

_WHERE = {
    "enhance": "api",
    "EnhanceOptions": "options",
    "EnhanceResult": "result",
    "EnhanceTimings": "result",
    "EnhanceWarning": "result",
    "EnhanceModel": "model_loading",
    "load_model": "model_loading",
    "default_model_path": "model_loading",
    "darken_frame": "darken",
}


def __getattr__(name: str):
    """The public names, imported on first use (PEP 562), so ``import expodiff.inference``
    and the CLI's parser stay free of torch."""
    if name in _WHERE:
        return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))
