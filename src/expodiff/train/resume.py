"""Which checkpoint ``--resume`` continues from, and whether the config still fits it."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import yaml

from ..config import ExperimentConfig, config_from_dict, config_to_dict
from ..errors import ConfigError, ModelError
from .checkpoint import CHECKPOINT_DIR, TRAINER_JSON, find_latest_checkpoint

__all__ = [
    "RESUME_FREE_KEYS",
    "config_differences",
    "run_folder_of",
    "find_resume_checkpoint",
    "check_resume_config",
]

# Config keys that may differ between a checkpoint and the run resuming it without changing
# what is computed (bookkeeping, speed, where files go).
RESUME_FREE_KEYS: frozenset[tuple[str, ...]] = frozenset(
    {
        ("name",),
        ("train", "iterations"),  # changes the schedule: allowed, the user asked for it
        ("train", "output_dir"),
        ("train", "log_every"),
        ("train", "val_every"),
        ("train", "checkpoint_every"),
        ("train", "keep_checkpoints"),
        ("train", "tensorboard"),
        ("train", "progress"),
        ("train", "num_threads"),
        ("train", "val_max_images"),
        ("data", "num_workers"),
        # The average of the weights never feeds back into training: a run may gain one.
        ("train", "ema_decay"),
    }
)


def config_differences(
    a: dict[str, Any], b: dict[str, Any], prefix: tuple[str, ...] = ()
) -> list[tuple[str, ...]]:
    """Key paths whose values differ between two nested config dicts."""
    out: list[tuple[str, ...]] = []
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key), b.get(key)
        if isinstance(va, dict) and isinstance(vb, dict):
            out += config_differences(va, vb, (*prefix, key))
        elif va != vb:
            out.append((*prefix, key))
    return out


def run_folder_of(path: str | Path) -> Path | None:
    """The run folder a ``--resume PATH`` names: PATH itself when it holds ``checkpoints/``,
    the folder above ``checkpoints/`` for a checkpoint inside one, else None (a checkpoint
    folder on its own)."""
    path = Path(path)
    if (path / CHECKPOINT_DIR).is_dir():
        return path
    if path.parent.name == CHECKPOINT_DIR and (path / TRAINER_JSON).is_file():
        return path.parent.parent
    return None


def _same_folder(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and a.samefile(b))
    except OSError:
        return False


def find_resume_checkpoint(output_dir: Path, resume: bool | str | Path) -> Path | None:
    """The checkpoint folder to continue from, or None for a fresh run.

    Args:
        output_dir: ``train.output_dir``.
        resume: False (fresh: refuses a folder that already holds checkpoints), True (the
            latest checkpoint of ``output_dir``) or a path (a run folder or a checkpoint).

    Raises:
        ConfigError: nothing to resume from, a fresh run into a used folder, or a path
            whose run continues into ``output_dir`` while that folder holds the checkpoints
            of another run.
    """
    if resume is False or resume is None:
        existing = find_latest_checkpoint(output_dir)
        if existing is not None:
            raise ConfigError(
                f"{output_dir}: already holds checkpoints ({existing.name}); pass --resume to "
                "continue that run, or choose another train.output_dir"
            )
        return None
    if resume is True:
        found = find_latest_checkpoint(output_dir)
        if found is None:
            raise ConfigError(f"{output_dir}: no checkpoint to resume from")
        return found
    path = Path(resume)
    found = find_latest_checkpoint(path) if (path / "checkpoints").is_dir() else path
    if found is None or not (found / TRAINER_JSON).is_file():
        raise ConfigError(f"{path}: not a checkpoint folder or a run folder with checkpoints")
    run = run_folder_of(path)
    other = find_latest_checkpoint(output_dir)
    if other is not None and (run is None or not _same_folder(run, output_dir)):
        raise ConfigError(
            f"{output_dir}: holds the checkpoints of another run; resuming {path} would "
            "write into it (set train.output_dir to a new folder, or resume that folder)"
        )
    return found


def check_resume_config(
    path: Path, config_yaml: str, current: ExperimentConfig, *, warn: bool = True
) -> None:
    """Refuse a different ``model`` section; warn about other computation-changing keys."""
    saved = config_from_dict(yaml.safe_load(config_yaml))
    diffs = config_differences(config_to_dict(saved), config_to_dict(current))
    relevant = [d for d in diffs if d not in RESUME_FREE_KEYS]
    blocking = [d for d in relevant if d[0] == "model"]
    if blocking:
        raise ModelError(
            f"{path}: the checkpoint's model differs from this config at "
            + ", ".join(".".join(d) for d in blocking)
        )
    others = [d for d in relevant if d[0] != "model"]
    if others and warn:
        warnings.warn(
            "resuming with a config that differs from the checkpoint's at "
            + ", ".join(".".join(d) for d in others)
            + " (the run will not match an uninterrupted one)",
            stacklevel=3,
        )
