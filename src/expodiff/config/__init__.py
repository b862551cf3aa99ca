"""Experiment configuration: nested frozen dataclasses (:mod:`.schema`) and a strict YAML
loader (:mod:`.loader`).

Only the orchestration layer (``io``, ``data``, ``train``, ``eval``, ``cli``, ``build``) reads
these; the physics and network layers take plain arguments (:mod:`expodiff.build` turns configs
into objects).
"""

from __future__ import annotations

from .loader import apply_overrides, config_from_dict, config_to_dict, dump_config, load_config
from .schema import (
    DataConfig,
    DiffusionConfig,
    EvalConfig,
    ExperimentConfig,
    ModelConfig,
    NoiseConfig,
    TrainConfig,
)

__all__ = [
    "NoiseConfig",
    "ModelConfig",
    "DiffusionConfig",
    "DataConfig",
    "TrainConfig",
    "EvalConfig",
    "ExperimentConfig",
    "load_config",
    "config_from_dict",
    "config_to_dict",
    "dump_config",
    "apply_overrides",
]
