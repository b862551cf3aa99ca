"""Enhancing dark raw photos: the ``expodiff enhance`` command and :func:`expodiff.enhance`.

Modules (see docs/enhance.md):

* :mod:`~expodiff.enhance.api`: :func:`enhance` and :class:`EnhanceResult`;
* :mod:`~expodiff.enhance.ratio`: the exposure ratio (given, EXIF, or brightness);
* :mod:`~expodiff.enhance.gain` and :mod:`~expodiff.enhance.noiselevel`: the system gain K
  (given, camera profile, or blind estimate from the image);
* :mod:`~expodiff.enhance.model_loading`: the packaged default model and model loading;
* :mod:`~expodiff.enhance.source`, :mod:`~expodiff.enhance.trajectories`: inputs and sampling;
* :mod:`~expodiff.enhance.pipeline`: files, folders, outputs and uncertainty maps;
* :mod:`~expodiff.enhance.darken`: simulate a dark shot from a well-exposed raw.

Names are imported lazily, so ``import expodiff.enhance`` stays cheap.

``expodiff.enhance`` is both this package and the function: the package is *callable*
(``expodiff.enhance(path, ratio=...)`` runs :func:`expodiff.enhance.api.enhance`), so the
documented call works whether Python resolves the name to the package (once any of its
modules is imported) or to the function.
"""

from __future__ import annotations

import importlib
import sys
import types

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
    """The public names, imported on first use (PEP 562), so ``import expodiff.enhance`` and
    the CLI's parser stay free of torch."""
    if name == "__signature__":  # inspect.signature(expodiff.enhance): the function's
        import inspect

        from .api import enhance

        return inspect.signature(enhance)
    if name in _WHERE:
        return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))


class _CallableModule(types.ModuleType):
    """This package, callable as :func:`expodiff.enhance.api.enhance` (setting a module's
    ``__class__`` to a ModuleType subclass is supported by Python since 3.5)."""

    def __call__(self, *args, **kwargs):
        from .api import enhance

        return enhance(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
