"""Recipes in stages: ``train.init_from`` may name the experiment config of an earlier stage.

A shipped model trained in two stages (stage 1 from scratch, stage 2 fine-tuning its weights)
is then one command from a fresh clone: ``expodiff train --config STAGE2.yaml`` trains stage 1
first when its model does not exist yet (resuming it when it has checkpoints), then stage 2
from that model. ``--dry-run`` trains nothing: it says which stage would run first and checks
stage 2 with freshly initialised weights.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ..config import load_config
from ..config.schema import ExperimentConfig
from ..errors import ConfigError

__all__ = ["StagePlan", "plan_stages", "CONFIG_SUFFIXES"]

CONFIG_SUFFIXES = (".yaml", ".yml")


@dataclasses.dataclass(frozen=True)
class StagePlan:
    """What ``expodiff train`` runs for one config.

    Attributes:
        config: the config to train, its ``init_from`` resolved to a model folder (or None
            where a dry run checks it before the earlier stage exists).
        earlier: the earlier stage's config, when its model must be trained first.
        earlier_resumes: that stage has checkpoints to continue from.
        note: one line for the user about the earlier stage (empty when there is none).
    """

    config: ExperimentConfig
    earlier: ExperimentConfig | None = None
    earlier_resumes: bool = False
    note: str = ""


def _is_config(path: str) -> bool:
    return Path(path).suffix.lower() in CONFIG_SUFFIXES


def plan_stages(cfg: ExperimentConfig, *, dry_run: bool = False) -> StagePlan:
    """Resolve ``cfg.train.init_from`` when it names an earlier stage's config.

    Raises:
        ConfigError: the earlier config is missing, invalid, itself staged on a config
            (one level of stages is supported), or would write into this run's folder.
    """
    source = cfg.train.init_from
    if not source or not _is_config(source):
        return StagePlan(cfg)
    if not Path(source).is_file():
        raise ConfigError(f"train.init_from {source}: no such config file")
    earlier = load_config(source)
    if earlier.train.init_from and _is_config(earlier.train.init_from):
        raise ConfigError(
            f"train.init_from {source}: that config starts from another config "
            f"({earlier.train.init_from}); chain at most two stages"
        )
    out = Path(earlier.train.output_dir)
    if out.resolve() == Path(cfg.train.output_dir).resolve():
        raise ConfigError(
            f"train.init_from {source}: writes into {out}, this run's own folder; give the "
            "stages different train.output_dir"
        )
    model = out / "model"
    resolved = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, init_from=str(model)))
    if (model / "config.yaml").is_file():
        return StagePlan(resolved, note=f"stage 1 {earlier.name}: using its model {model}")
    resumes = (out / "checkpoints").is_dir() and any((out / "checkpoints").iterdir())
    action = "resume" if resumes else "train"
    if dry_run:
        unchecked = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, init_from=None))
        note = (
            f"stage 1 {earlier.name} ({source}) has no model in {model} yet: `expodiff train` "
            f"would {action} it first; this dry run uses freshly initialised weights"
        )
        return StagePlan(unchecked, earlier=earlier, earlier_resumes=resumes, note=note)
    note = f"stage 1 {earlier.name} ({source}): no model in {model} yet, {action} it first"
    return StagePlan(resolved, earlier=earlier, earlier_resumes=resumes, note=note)
