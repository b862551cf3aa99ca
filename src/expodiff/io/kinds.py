"""Closed sets of the I/O layer, without torch.

The command-line parsers import these cheaply; :mod:`expodiff.io.isp` re-exports
:class:`DemosaicMethod`.
"""

from __future__ import annotations

from enum import Enum

__all__ = ["DemosaicMethod"]


class DemosaicMethod(str, Enum):
    """Demosaicing algorithm of :func:`expodiff.io.isp.demosaic`."""

    BILINEAR = "bilinear"  # Bayer and X-Trans
    MALVAR = "malvar"  # Malvar-He-Cutler 2004 gradient-corrected linear, Bayer only

    @classmethod
    def parse(cls, name: str) -> DemosaicMethod:
        key = name.strip().lower()
        for member in cls:
            if member.value == key:
                return member
        valid = ", ".join(m.value for m in cls)
        raise ValueError(f"unknown demosaic method {name!r}; valid: {valid}")
