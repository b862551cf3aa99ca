"""Train (or reuse, or resume) the benchmark's models at the equal budget.

Each :class:`~benchmarks.paper.plan.TrainedRun` becomes an experiment config (its base config
from ``configs/``, its overrides, then the budget) trained into ``WORKDIR/train/<key>``:

* a finished run (``model/`` whose config matches) is reused as it is;
* an interrupted run (checkpoints, matching config) is resumed exactly
  (:class:`~expodiff.train.loop.Trainer` with ``resume=True``);
* a folder holding a run with *other* settings (say another budget) is an error: the
  benchmark never mixes budgets silently. Use another ``--workdir`` or delete the folder.
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from expodiff.config import ExperimentConfig, config_from_dict, config_to_dict, load_config
from expodiff.errors import ConfigError

from .bench_config import BudgetConfig
from .plan import RUNS, TrainedRun

__all__ = [
    "TrainOutcome",
    "BenchInterrupted",
    "experiment_config",
    "configs_dir",
    "ensure_trained",
    "model_dir",
]

log = logging.getLogger("benchmarks.paper")

# Keys that may differ between a stored run and the wanted one without changing the model.
_FREE_KEYS: frozenset[tuple[str, ...]] = frozenset(
    {
        ("train", "output_dir"),
        ("train", "num_threads"),
        ("train", "log_every"),
        ("train", "checkpoint_every"),
        ("train", "keep_checkpoints"),
        ("train", "progress"),
        ("train", "tensorboard"),
        ("data", "num_workers"),
        ("train", "device"),  # always the CPU now; runs cached before said "auto"
    }
)


class BenchInterrupted(KeyboardInterrupt):
    """Training was stopped by Ctrl-C / SIGTERM after saving a checkpoint."""


@dataclass(frozen=True)
class TrainOutcome:
    """What :func:`ensure_trained` did for one run.

    Attributes:
        key: the run.
        model_dir: the trained model folder.
        action: ``"reused"``, ``"resumed"`` or ``"trained"``.
        seconds: wall time spent training now (0 when reused).
        seconds_per_step: mean wall time per step of the whole run, from its ``log.csv``.
    """

    key: str
    model_dir: Path
    action: str
    seconds: float
    seconds_per_step: float | None


def configs_dir() -> Path:
    """The project's ``configs/`` folder (source checkout)."""
    from expodiff.paths import project_root

    root = project_root()
    if root is None or not (root / "configs").is_dir():
        raise ConfigError("configs/ not found: the benchmark runs from a source checkout")
    return root / "configs"


def model_dir(workdir: Path, key: str) -> Path:
    """Where run ``key``'s trained model folder is."""
    return Path(workdir) / "train" / key / "model"


def experiment_config(
    run: TrainedRun, budget: BudgetConfig, workdir: Path, threads: int | None
) -> ExperimentConfig:
    """The full experiment config of ``run`` at ``budget``, training into ``workdir``."""
    b = budget
    sets = "[" + ",".join(b.train_sets) + "]"
    overrides = [
        *run.overrides,
        f"name=bench-{run.key}",
        f"train.iterations={b.iterations}",
        f"train.lr={b.lr}",
        f"train.seed={b.seed}",
        f"data.batch_size={b.batch_size}",
        f"data.patch_size={b.patch_size}",
        f"data.train_sets={sets}",
        "data.val_sets=[]",  # no periodic validation: the benchmark evaluates afterwards
        f"data.num_workers={b.num_workers}",
        "train.val_every=0",
        f"train.checkpoint_every={b.checkpoint_every}",
        f"train.log_every={b.log_every}",
        "train.keep_checkpoints=1",
        "train.tensorboard=false",
        "train.progress=false",
        # The benchmark measures the CPU (bench/machine.py); "auto" would train on a GPU.
        "train.device=cpu",
        f"train.output_dir={Path(workdir) / 'train' / run.key}",
    ]
    if threads is not None:
        overrides.append(f"train.num_threads={threads}")
    return load_config(configs_dir() / f"{run.base}.yaml", overrides)


def _stored_config(path: Path) -> ExperimentConfig | None:
    if not path.is_file():
        return None
    try:
        return config_from_dict(yaml.safe_load(path.read_text()))
    except (yaml.YAMLError, ConfigError):
        return None


def _check_same(where: Path, stored: ExperimentConfig | None, wanted: ExperimentConfig) -> None:
    from expodiff.train.resume import config_differences

    if stored is None:
        raise ConfigError(f"{where}: unreadable config of an earlier run; delete the folder")
    diffs = config_differences(config_to_dict(stored), config_to_dict(wanted))
    diffs = [d for d in diffs if d not in _FREE_KEYS]
    if diffs:
        keys = ", ".join(".".join(d) for d in diffs[:4])
        raise ConfigError(
            f"{where}: holds a run with other settings ({keys}); use another --workdir or "
            "delete the folder"
        )


def _seconds_per_step(run_dir: Path) -> float | None:
    """Mean wall seconds per step over the logged rows of ``log.csv`` (it_per_s column)."""
    import csv

    path = run_dir / "log.csv"
    if not path.is_file():
        return None
    with open(path, newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r.get("it_per_s")]
    rates = [float(r["it_per_s"]) for r in rows if float(r["it_per_s"]) > 0]
    if not rates:
        return None
    return sum(1.0 / r for r in rates) / len(rates)


def ensure_trained(
    key: str, budget: BudgetConfig, workdir: Path, *, threads: int | None = None
) -> TrainOutcome:
    """Make sure run ``key`` is trained in ``workdir``; train or resume it when needed.

    Raises:
        ConfigError: the folder holds a run with other settings.
        BenchInterrupted: training was interrupted (a checkpoint was saved first).
    """
    from expodiff.train.checkpoint import find_latest_checkpoint
    from expodiff.train.loop import Trainer

    run = RUNS[key]
    cfg = experiment_config(run, budget, workdir, threads)
    out = Path(cfg.train.output_dir)
    final = out / "model"
    if (final / "model.safetensors").is_file():
        _check_same(final, _stored_config(final / "config.yaml"), cfg)
        return TrainOutcome(key, final, "reused", 0.0, _seconds_per_step(out))
    latest = find_latest_checkpoint(out)
    if latest is not None:
        _check_same(latest, _stored_config(latest / "config.yaml"), cfg)
    elif (out / "config.yaml").is_file():
        # started, interrupted before its first checkpoint: nothing to keep but the logs
        _check_same(out, _stored_config(out / "config.yaml"), cfg)
    action = "resumed" if latest is not None else "trained"
    log.info(
        f"{key}: {'resuming from ' + latest.name if latest else 'training'} "
        f"({cfg.train.iterations} steps, batch {cfg.data.batch_size}, "
        f"patch {cfg.data.patch_size})"
    )
    t0 = time.perf_counter()
    trainer = Trainer(cfg, resume=latest is not None)
    result = trainer.run()
    seconds = time.perf_counter() - t0
    if result.interrupted or result.model_dir is None:
        print(f"expodiff: benchmark stopped while training {key}", file=sys.stderr)
        raise BenchInterrupted(key)
    return TrainOutcome(key, final, action, seconds, _seconds_per_step(out))
