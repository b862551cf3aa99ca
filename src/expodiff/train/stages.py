"""Recipes in stages: ``train.init_from`` may name the experiment config of an earlier stage.

A shipped model trained in stages (stage 1 from scratch, each later stage fine-tuning the
weights of the one before) is then one command from a fresh clone: ``expodiff train --config
STAGE3.yaml`` trains the earlier stage first when its model does not exist yet (resuming it
when it has checkpoints; that stage does the same with its own earlier stage), then this stage
from that model. ``--dry-run`` trains nothing: it says which stage would run first and checks
this stage with freshly initialised weights. A chain of at most ``MAX_STAGES`` configs, each
with its own ``train.output_dir``, and no config twice.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ..config import load_config
from ..config.schema import ExperimentConfig
from ..errors import ConfigError

__all__ = ["StagePlan", "plan_stages", "CONFIG_SUFFIXES", "MAX_STAGES"]

CONFIG_SUFFIXES = (".yaml", ".yml")
# Configs in one chain of init_from (a longer one is more likely a mistake than a recipe).
MAX_STAGES = 8


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
        ConfigError: a config of the chain is missing or invalid, the chain repeats a config
            or is longer than ``MAX_STAGES``, or two stages share a ``train.output_dir``.
    """
    source = cfg.train.init_from
    if not source or not _is_config(source):
        return StagePlan(cfg)
    if not Path(source).is_file():
        raise ConfigError(f"train.init_from {source}: no such config file")
    earlier = load_config(source)
    _check_chain(cfg, source, earlier)
    out = Path(earlier.train.output_dir)
    model = out / "model"
    resolved = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, init_from=str(model)))
    if (model / "config.yaml").is_file():
        return StagePlan(resolved, note=f"earlier stage {earlier.name}: using its model {model}")
    resumes = (out / "checkpoints").is_dir() and any((out / "checkpoints").iterdir())
    action = "resume" if resumes else "train"
    if dry_run:
        unchecked = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, init_from=None))
        note = (
            f"earlier stage {earlier.name} ({source}) has no model in {model} yet: "
            f"`expodiff train` would {action} it first; this dry run uses freshly initialised "
            "weights"
        )
        return StagePlan(unchecked, earlier=earlier, earlier_resumes=resumes, note=note)
    note = f"earlier stage {earlier.name} ({source}): no model in {model} yet, {action} it first"
    return StagePlan(resolved, earlier=earlier, earlier_resumes=resumes, note=note)


def _check_chain(cfg: ExperimentConfig, source: str, earlier: ExperimentConfig) -> None:
    """The whole chain of earlier stages: no config twice, at most ``MAX_STAGES``, every
    stage writing into its own folder (a later stage would otherwise overwrite the model the
    next one starts from)."""
    folders = {Path(cfg.train.output_dir).resolve(): "this run's own folder"}
    seen: list[Path] = []
    path, stage = source, earlier
    while True:
        resolved = Path(path).resolve()
        if resolved in seen:
            raise ConfigError(f"train.init_from {source}: the stages form a loop at {path}")
        seen.append(resolved)
        if len(seen) >= MAX_STAGES:
            raise ConfigError(f"train.init_from {source}: more than {MAX_STAGES} stages")
        out = Path(stage.train.output_dir).resolve()
        if out in folders:
            raise ConfigError(
                f"train.init_from {path}: writes into {stage.train.output_dir}, "
                f"{folders[out]}; give the stages different train.output_dir"
            )
        folders[out] = f"the folder of {path} too"
        nxt = stage.train.init_from
        if not nxt or not _is_config(nxt):
            return
        if not Path(nxt).is_file():
            raise ConfigError(f"train.init_from {nxt} (of {path}): no such config file")
        path, stage = nxt, load_config(nxt)
