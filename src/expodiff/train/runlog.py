"""What a training run leaves behind besides checkpoints, and how it stops on request.

* :class:`RunLog`: rank 0's ``log.csv`` (loss, learning rate, speed), ``val.csv``
  (validation PSNR per ratio) and optional TensorBoard events under ``tb/``. On resume, rows
  after the resumed step are dropped, so the files continue as if the run had never stopped.
* :class:`StopSignal`: SIGINT/SIGTERM set a flag the loop checks after each step (save a
  checkpoint, then exit); a second Ctrl-C aborts at once.
* :func:`ignore_sigint`: DataLoader ``worker_init_fn`` so the terminal's Ctrl-C, which
  reaches the whole process group, does not kill workers mid-batch.
"""

from __future__ import annotations

import csv
import signal
import sys
import threading
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

__all__ = ["RunLog", "CsvLog", "LossWindow", "StopSignal", "ignore_sigint", "open_tensorboard"]


class StopSignal:
    """Context manager: SIGINT/SIGTERM -> ``requested = True`` (second SIGINT: abort).

    Args:
        announce: print a one-line notice on stderr when the first signal arrives.
    """

    def __init__(self, announce: bool = True) -> None:
        self.requested = False
        self.signum: int | None = None
        self.announce = announce
        self._old: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:  # noqa: ARG002
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True
        self.signum = signum
        if self.announce:
            print(
                "\nexpodiff: interrupted; saving a checkpoint after this step "
                "(Ctrl-C again aborts without saving)",
                file=sys.stderr,
                flush=True,
            )

    def __enter__(self) -> StopSignal:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


def ignore_sigint(_worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: workers ignore SIGINT, the main process decides."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class CsvLog:
    """A CSV file with a fixed header, flushed per row.

    Args:
        path: the file.
        header: column names; the first column is the step.
        resume_step: when resuming, keep the existing rows up to this step (if the header
            matches) and drop later ones; None starts a fresh file.
    """

    def __init__(self, path: Path, header: Sequence[str], *, resume_step: int | None) -> None:
        self.path = path
        self.header = list(header)
        rows: list[list[str]] = []
        if resume_step is not None and path.is_file():
            with open(path, newline="") as fh:
                reader = csv.reader(fh)
                if next(reader, None) == self.header:
                    rows = [r for r in reader if r and int(r[0]) <= resume_step]
        with open(path, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(self.header)
            writer.writerows(rows)
        self._fh = open(path, "a", newline="")  # noqa: SIM115 (closed by close())
        self._writer = csv.writer(self._fh)

    def write(self, row: Sequence[Any]) -> None:
        self._writer.writerow([f"{v:.6g}" if isinstance(v, float) else v for v in row])
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()


def open_tensorboard(folder: Path, purge_step: int | None) -> Any:
    """A ``SummaryWriter``, or None (with a warning) when tensorboard is not installed."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # optional dependency (the research extra)
        warnings.warn(
            "TensorBoard logging disabled: the 'tensorboard' package is not installed "
            "(pip install 'expodiff[research]', or set train.tensorboard=false)",
            stacklevel=3,
        )
        return None
    return SummaryWriter(str(folder), purge_step=purge_step)


class RunLog:
    """Rank 0's log files of a run folder (``log.csv``, ``val.csv``, ``tb/``).

    Args:
        folder: the run folder (created).
        part_names: extra loss columns of ``log.csv`` (e.g. ``loss_step1``..).
        resume_step: the step a resumed run continues from, or None for a fresh run.
        tensorboard: also write TensorBoard events.
    """

    def __init__(
        self,
        folder: Path,
        part_names: Sequence[str],
        *,
        resume_step: int | None,
        tensorboard: bool,
    ) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.part_names = list(part_names)
        self.train_csv = CsvLog(
            folder / "log.csv",
            ["step", "lr", "loss", *self.part_names, "it_per_s", "elapsed_s", "cpu_hours"],
            resume_step=resume_step,
        )
        self.val_csv = CsvLog(
            folder / "val.csv", ["step", "ratio", "psnr"], resume_step=resume_step
        )
        self.writer = open_tensorboard(folder / "tb", resume_step) if tensorboard else None

    def train(
        self,
        step: int,
        lr: float,
        loss: float,
        parts: Sequence[float | None],
        it_per_s: float,
        elapsed_s: float,
        cpu_hours: float,
    ) -> None:
        """One row of training statistics (``parts`` in the order of ``part_names``).

        ``elapsed_s``: wall seconds of this session; ``cpu_hours``: CPU hours of the whole run
        (every session, data workers included), the measure of its cost.
        """
        cells = ["" if p is None else p for p in parts]
        self.train_csv.write([step, lr, loss, *cells, it_per_s, elapsed_s, cpu_hours])
        if self.writer is not None:
            self.writer.add_scalar("train/loss", loss, step)
            self.writer.add_scalar("train/lr", lr, step)
            self.writer.add_scalar("train/it_per_s", it_per_s, step)
            for name, value in zip(self.part_names, parts, strict=True):
                if value is not None:
                    self.writer.add_scalar(f"train/{name}", value, step)

    def val(self, step: int, psnr_by_ratio: dict[float, float]) -> None:
        """Validation PSNR (dB) per exposure ratio."""
        for ratio, value in psnr_by_ratio.items():
            self.val_csv.write([step, ratio, value])
            if self.writer is not None:
                self.writer.add_scalar(f"val/psnr_x{ratio:g}", value, step)

    def close(self) -> None:
        self.train_csv.close()
        self.val_csv.close()
        if self.writer is not None:
            self.writer.close()


class LossWindow:
    """Running sums of the loss and its parts between two log rows (kept on the device).

    Args:
        names: the part names, in log-column order.
        device: where the sums live (no host sync per step).
    """

    def __init__(self, names: Sequence[str], device: torch.device) -> None:
        self.names = list(names)
        self.device = device
        self.start = time.perf_counter()
        self._reset(self.start)

    def _reset(self, now: float) -> None:
        self.t = now
        self.count = 0
        self.loss = torch.zeros((), device=self.device)
        self.parts: dict[str, torch.Tensor] = {}

    def add(self, loss: torch.Tensor, parts: dict[str, torch.Tensor]) -> None:
        self.count += 1
        self.loss += loss
        for k, v in parts.items():
            self.parts[k] = self.parts.get(k, 0) + v

    def flush(self, mean) -> tuple[float, list[float | None], float, float]:
        """``(mean loss, mean parts, it/s, elapsed s)``; ``mean`` reduces over ranks.

        Collective when ``mean`` is: every rank must call it at the same steps.
        """
        n = max(self.count, 1)
        loss = float(mean(self.loss / n))
        cols = [float(mean(self.parts[k] / n)) if k in self.parts else None for k in self.names]
        now = time.perf_counter()
        rate = self.count / max(now - self.t, 1e-9)
        self._reset(now)
        return loss, cols, rate, now - self.start
