"""Shared fixtures: the reference-data folder and small helpers."""

from __future__ import annotations

from pathlib import Path

import pytest

from expodiff.settings import data_root


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The shared reference data (EXPODIFF_DATA); tests needing it skip if it is absent."""
    root = data_root()
    if not (root / "README.md").is_file():
        pytest.skip(f"reference data not found at {root} (set EXPODIFF_DATA)")
    return root


@pytest.fixture(scope="session")
def raw_dir(data_dir: Path) -> Path:
    return data_dir / "raw"
