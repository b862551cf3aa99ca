"""Measurements beside the package: scripts (``python benchmarks/NAME.py``) and the paper's
reproduction (``python -m benchmarks.paper``), all reading expodiff's public API."""
