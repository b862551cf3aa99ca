"""A training run as it goes: where it stands, how it reports itself, what it ended with.

* :class:`RunState`: the step, the batch iterator and what the run has to return so far;
* :class:`RunProgress`: rank 0's rows of ``log.csv`` / ``val.csv`` / ``tb/`` (through
  :class:`~expodiff.train.runlog.RunLog`) and a tqdm bar when stderr is a terminal, or one
  log line per row when it is not (a background run). On the other ranks it holds neither
  and does nothing, so the loop calls it the same way on every rank;
* :class:`TrainResult`: what a (possibly interrupted) run ended with.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..config import TrainConfig
from .runlog import RunLog

__all__ = ["RunProgress", "RunState", "TrainResult"]

log = logging.getLogger("expodiff.train")


@dataclass
class TrainResult:
    """What a (possibly interrupted) training run ended with."""

    step: int
    iterations: int
    interrupted: bool
    checkpoint: Path | None
    model_dir: Path | None
    weights_digest: str
    last_loss: float | None = None
    val_psnr: dict[float, float] = field(default_factory=dict)
    rank: int = 0
    world_size: int = 1


@dataclass
class RunState:
    """Where a run stands: what :meth:`~expodiff.train.loop.Trainer.run` carries between steps."""

    step: int
    batches: Iterator | None = None
    last_loss: float | None = None
    val_psnr: dict[float, float] = field(default_factory=dict)
    interrupted: bool = False
    checkpoint: Path | None = None
    model_dir: Path | None = None


class RunProgress:
    """Rank 0's log files and progress bar (both None on the other ranks).

    Args:
        runlog: the run folder's log files, or None (not rank 0).
        bar: a tqdm progress bar, or None (not rank 0, progress off, or no terminal).
        iterations: ``train.iterations``, for the log lines.
    """

    def __init__(self, runlog: RunLog | None, bar: Any, iterations: int) -> None:
        self.runlog = runlog
        self.bar = bar
        self.iterations = iterations

    @classmethod
    def open(
        cls,
        folder: Path,
        part_names: Sequence[str],
        tcfg: TrainConfig,
        *,
        start_step: int,
        resumed: bool,
        show_bar: bool,
        name: str,
    ) -> RunProgress:
        """Rank 0's: open the log files (continuing a resumed run's) and, if asked, the bar.

        Args:
            folder: the run folder.
            part_names: the extra loss columns of ``log.csv``.
            tcfg: the train section (``iterations``: the bar's total; ``tensorboard``;
                ``progress``: whether to show a bar at all).
            start_step: the step the run starts from (the bar's start).
            resumed: the run continues from a checkpoint at ``start_step``.
            show_bar: show a bar (if ``tcfg.progress`` and stderr is a terminal).
            name: the bar's label (the experiment's name).
        """
        resume_step = start_step if resumed else None
        runlog = RunLog(folder, part_names, resume_step=resume_step, tensorboard=tcfg.tensorboard)
        bar = None
        if tcfg.progress and show_bar and sys.stderr.isatty():
            from tqdm.auto import tqdm

            bar = tqdm(
                total=tcfg.iterations,
                initial=start_step,
                desc=name,
                unit="it",
                dynamic_ncols=True,
                smoothing=0.1,
            )
        return cls(runlog, bar, tcfg.iterations)

    def show_step(self, step: int, window_count: int, loss: torch.Tensor, lr: float) -> None:
        """Advance the bar by one step; refresh its loss and lr on a window's first step and
        every 10 steps (reading the loss waits for the device)."""
        if self.bar is None:
            return
        self.bar.update(1)
        if window_count == 1 or step % 10 == 0:
            self.bar.set_postfix(loss=f"{float(loss):.4g}", lr=f"{lr:.1e}", refresh=False)

    def log_train(
        self,
        step: int,
        lr: float,
        loss: float,
        parts: Sequence[float | None],
        it_per_s: float,
        elapsed_s: float,
        cpu_hours: float,
    ) -> None:
        """One row of ``log.csv`` (and a log line when there is no bar)."""
        if self.runlog is None:
            return
        self.runlog.train(step, lr, loss, parts, it_per_s, elapsed_s, cpu_hours)
        if self.bar is None:  # no progress bar (e.g. a background run)
            log.info(
                f"step {step}/{self.iterations}: loss {loss:.4g}, lr {lr:.1e}, {it_per_s:.3g} it/s"
            )

    def log_val(self, step: int, psnr_by_ratio: dict[float, float]) -> None:
        """Rows of ``val.csv`` and one line above the bar (or in the log)."""
        if self.runlog is None or not psnr_by_ratio:
            return
        self.runlog.val(step, psnr_by_ratio)
        text = ", ".join(f"x{r:g} {v:.2f} dB" for r, v in psnr_by_ratio.items())
        (self.bar.write if self.bar is not None else log.info)(
            f"step {step}: validation PSNR {text}"
        )

    def close_bar(self) -> None:
        """Close the bar; later lines go to the log."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def close(self) -> None:
        """Close the bar and the log files."""
        self.close_bar()
        if self.runlog is not None:
            self.runlog.close()
