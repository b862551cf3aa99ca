"""Lazy re-exports: a package's public names imported from its submodules on first use.

A package ``__init__`` that imported its submodules eagerly would pull torch into everything
that imports one light submodule of it (``expodiff.config`` imports only the ``kinds``
enums). With PEP 562 module ``__getattr__`` the names resolve when first read instead::

    __getattr__, __dir__ = lazy_exports(__name__, {"NoiseModel": "model", ...})
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, where: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The module-level ``__getattr__`` and ``__dir__`` of a package with lazy names.

    Args:
        package: the package's ``__name__``.
        where: public name -> the submodule (relative to ``package``) that defines it.

    Returns:
        ``(__getattr__, __dir__)`` to assign at the package's top level.
    """

    def __getattr__(name: str) -> Any:
        if name in where:
            return getattr(importlib.import_module(f"{package}.{where[name]}"), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(where))

    return __getattr__, __dir__
