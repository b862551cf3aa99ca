"""Process-wide settings read from the environment, in one place.

``EXPODIFF_DATA`` names the reference-data folder (camera raw files, ELD calibrations,
SID metadata, split lists, clean images). It defaults to ``../shared/data`` relative to the
project root (the folder holding ``pyproject.toml`` of a source checkout), or to the current
directory when the package is installed elsewhere.
"""

from __future__ import annotations

import os
from pathlib import Path

DATA_ENV_VAR = "EXPODIFF_DATA"


def project_root() -> Path | None:
    """The source checkout this package runs from, or None for an installed package."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "pyproject.toml").is_file() and (parent / "src" / "expodiff").is_dir():
            return parent
    return None


def data_root() -> Path:
    """Folder of the shared reference data (may not exist; callers check)."""
    env = os.environ.get(DATA_ENV_VAR)
    if env:
        return Path(env).expanduser()
    root = project_root() or Path.cwd()
    return (root / ".." / "shared" / "data").resolve()
