"""The training loop of ``expodiff train``: one process, or many under ``torchrun`` (DDP).

What one optimiser step does (see docs/training.md):

1. the next batch of ``data.batch_size`` samples of the training split comes from DataLoader
   worker processes, in an order that is a pure function of ``(train.seed, step, rank)``
   (:class:`~expodiff.data.epochs.EpochSampler` + the datasets' per-item generators);
2. synthetic sources get noise synthesised batched on the device, with a per-sample gain K
   and ratio drawn by the noise model; real pairs (SID paired, ELD) bring theirs;
3. the objective (:mod:`expodiff.train.objectives`): Algorithm 1 of ExposureDiffusion
   (``diffusion.train_steps`` network evaluations; 1 is the feed-forward baseline) or
   Noise2Noise;
4. Adam with the paper's schedule (:mod:`expodiff.train.schedule`), optional gradient
   clipping, bf16 autocast and channels-last; optionally a moving average of the weights
   (:mod:`expodiff.train.ema`) for validation and ``model/``.

Everything random in the loop draws from one ``torch.Generator`` per rank whose state is saved
in every checkpoint together with the global RNGs and Adam's moments, so ``--resume``
continues bit for bit (same hardware, thread count and world size). Only rank 0 writes files:
``config.yaml``, ``log.csv``, ``val.csv``, ``tb/``, ``checkpoints/`` and, at the end,
``model/`` (the trained denoiser, see :func:`expodiff.build.load_denoiser`).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ..config import ExperimentConfig, dump_config
from ..io.modelfiles import save_denoiser
from ..kinds import TrainObjective
from .checkpoint import (
    TrainerState,
    capture_rng,
    find_latest_checkpoint,
    optimizer_to_flat,
    save_checkpoint,
)
from .cputime import process_tree_cpu_seconds
from .distributed import DistContext, init_distributed, shutdown_distributed, weights_digest
from .ema import start_average
from .objectives import noise2noise_loss, part_names, supervised_loss
from .progress import RunProgress, RunState, TrainResult
from .resume import find_resume_checkpoint
from .runlock import check_not_locked, lock_run_folder
from .runlog import LossWindow, StopSignal
from .schedule import due, learning_rate, set_learning_rate
from .setup import (
    REAL_PAIR_KINDS,
    build_datasets,
    build_optimizer,
    check_train_config,
    dry_run_step,
    init_weights,
    next_batch,
    restore_checkpoint,
    seed_for,
    train_loader,
    unwrap_ddp,
    warn_if_slow_bf16,
    wrap_ddp,
)
from .validation import validation_psnr

__all__ = ["Trainer", "TrainResult", "train", "REAL_PAIR_KINDS"]


class Trainer:
    """Builds everything a run needs from an :class:`ExperimentConfig` and runs it.

    Args:
        config: the resolved experiment config.
        resume: continue from the latest checkpoint under ``train.output_dir`` (True), from a
            run or checkpoint folder (a path), or start fresh (False; refuses a folder that
            already holds checkpoints).
        ctx: distributed context (default: from the torchrun environment).
    """

    def __init__(
        self,
        config: ExperimentConfig,
        *,
        resume: bool | str | Path = False,
        ctx: DistContext | None = None,
    ) -> None:
        check_train_config(config)
        self.cfg = config
        self.tcfg = config.train
        self.ctx = ctx or init_distributed(self.tcfg.device)
        self.device = self.ctx.device
        if self.tcfg.num_threads:
            torch.set_num_threads(self.tcfg.num_threads)
        if self.ctx.is_main:
            warn_if_slow_bf16(self.tcfg, self.device)
        self.out = Path(self.tcfg.output_dir)
        if self.ctx.is_main:
            check_not_locked(self.out)  # fail at once; run() takes the lock
        self.resume_from = find_resume_checkpoint(self.out, resume)
        self._latest_at_start = find_latest_checkpoint(self.out)
        self._build()

    # ------------------------------------------------------------------ setup
    def _build(self) -> None:
        from ..build import build_denoiser
        from ..diffusion.process import ExposureProcess

        cfg, seed = self.cfg, self.tcfg.seed
        torch.manual_seed(seed)  # identical initial weights on every rank
        self.model = build_denoiser(cfg.model, full_scale_dn=cfg.noise.full_scale_dn).to(
            self.device
        )
        if self.tcfg.channels_last:
            self.model.to_channels_last(True)
        self.process = ExposureProcess(cfg.noise.full_scale_dn, cfg.diffusion.reexposure)
        self.optimizer = build_optimizer(self.model, self.tcfg)
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(seed_for("train", seed, self.ctx.rank))
        self.noise = None
        if cfg.data.kind not in REAL_PAIR_KINDS:
            from ..build import build_noise_model

            self.noise = build_noise_model(cfg.noise)
        self.train_set, self.val_set = build_datasets(cfg.data, seed)
        self.start_step = 0
        # The run's CPU time (this process and its data workers) over every session it ran in.
        self.cpu_seconds_before = 0.0
        self._cpu_at_start = process_tree_cpu_seconds()
        if self.resume_from is None and self.tcfg.init_from:
            init_weights(self.model, self.tcfg.init_from)
        restored = None
        if self.resume_from is not None:
            restored = restore_checkpoint(
                self.resume_from,
                cfg,
                model=self.model,
                optimizer=self.optimizer,
                generator=self.generator,
                ctx=self.ctx,
            )
            self.start_step = restored.step
            self.cpu_seconds_before = float(restored.extra.get("cpu_seconds", 0.0))
        self.ema = start_average(self.model, self.tcfg.ema_decay, restored, warn=self.ctx.is_main)
        self.ddp_model: torch.nn.Module = wrap_ddp(self.model, self.ctx)

    def _loader(self, start_step: int) -> torch.utils.data.DataLoader:
        return train_loader(
            self.train_set,
            self.cfg.data,
            seed=self.tcfg.seed,
            start_step=start_step,
            ctx=self.ctx,
        )

    # ------------------------------------------------------------------ one step
    def _autocast(self) -> contextlib.AbstractContextManager:
        return torch.autocast(
            device_type=self.device.type, dtype=torch.bfloat16, enabled=self.tcfg.bf16_autocast
        )

    def _prepare(self, t: torch.Tensor) -> torch.Tensor:
        if self.tcfg.channels_last:
            return t.contiguous(memory_format=torch.channels_last)
        return t

    def loss(self, batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The objective on one :class:`~expodiff.data.types.RawBatch` on the device."""
        kw = dict(generator=self.generator, autocast=self._autocast(), prepare=self._prepare)
        if self.tcfg.objective is TrainObjective.NOISE2NOISE:
            return noise2noise_loss(self.process, self.ddp_model, self.noise, batch.clean, **kw)
        if batch.noisy is not None:
            pair = batch.noisy_pair()
        else:
            pair = self.noise.synthesize(batch.clean, generator=self.generator)
        return supervised_loss(self.process, self.ddp_model, pair, self.cfg.diffusion, **kw)

    def _step(self, step: int, batch) -> tuple[float, torch.Tensor, dict[str, torch.Tensor]]:
        t = self.tcfg
        lr = learning_rate(
            step,
            t.iterations,
            lr=t.lr,
            halve_at=t.lr_halve_at,
            final_at=t.lr_final_at,
            final=t.lr_final,
        )
        set_learning_rate(self.optimizer, lr)
        total, parts = self.loss(batch)
        if not torch.isfinite(total):
            raise FloatingPointError(f"the loss became {float(total)} at step {step + 1}")
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        if t.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), t.grad_clip)
        self.optimizer.step()
        if self.ema is not None:
            self.ema.update(self.model)
        return lr, total.detach(), parts

    # ------------------------------------------------------------------ validation
    def validate(self) -> dict[float, float]:
        """Mean PSNR (dB) per ratio on the validation split (see :mod:`.validation`)."""
        if self.val_set is None:
            return {}
        d = self.cfg.diffusion
        with self._averaged() as model:
            return validation_psnr(
                model,
                self.process,
                self.val_set,
                noise_model=self.noise,
                ratios=self.cfg.data.val_ratios,
                steps=d.inference_steps,
                seed=self.tcfg.seed,
                max_images=self.tcfg.val_max_images,
                device=self.device,
                bf16=self.tcfg.bf16_autocast,
                oracle_illuminance_correction=d.oracle_illuminance_correction,
                input_consistency_sigma=d.input_consistency_sigma,
            )

    def _averaged(self) -> contextlib.AbstractContextManager[torch.nn.Module]:
        """The network with the average of its weights (``train.ema_decay``) inside the block,
        its own weights when the run keeps no average."""
        model = unwrap_ddp(self.ddp_model)
        return self.ema.applied(model) if self.ema is not None else contextlib.nullcontext(model)

    def _validate_and_log(self, step: int, progress: RunProgress) -> dict[float, float]:
        """Collective: rank 0 validates, every rank gets the PSNRs, rank 0 logs them."""
        psnrs = self.ctx.broadcast_object(self.validate() if self.ctx.is_main else {})
        progress.log_val(step, psnrs)
        return psnrs

    def cpu_seconds(self) -> float:
        """CPU seconds of this rank's process tree over the whole run, resumes included."""
        return self.cpu_seconds_before + process_tree_cpu_seconds() - self._cpu_at_start

    # ------------------------------------------------------------------ files
    def save(self, step: int) -> Path | None:
        """Collective: every rank contributes its RNG state, rank 0 writes the checkpoint."""
        tensors, meta = optimizer_to_flat(self.optimizer)
        rng = self.ctx.gather_objects(capture_rng(self.generator))
        state = TrainerState(step, tensors, meta, rng, world_size=self.ctx.world_size)
        state.extra["cpu_seconds"] = self.cpu_seconds()
        if self.ema is not None:
            state.ema_tensors, state.extra["ema_updates"] = self.ema.average, self.ema.updates
        path = None
        if self.ctx.is_main:
            path = save_checkpoint(
                self.out,
                model_state=unwrap_ddp(self.ddp_model).state_dict(),
                config_yaml=dump_config(self.cfg),
                state=state,
                keep=self.tcfg.keep_checkpoints,
            )
        self.ctx.barrier()
        return path

    # ------------------------------------------------------------------ dry run
    def dry_run(self) -> dict[str, Any]:
        """Load one batch and run one forward/backward pass; write nothing, step nothing
        (:func:`.setup.dry_run_step`)."""
        return dry_run_step(self)

    # ------------------------------------------------------------------ run
    def run(
        self, *, stop_after: int | None = None, on_step: Callable[[int], None] | None = None
    ) -> TrainResult:
        """Train from ``start_step`` to ``train.iterations`` (or until ``stop_after`` steps).

        ``on_step(step)`` is called after every completed step. Interrupted (SIGINT or
        SIGTERM), the run saves a checkpoint after the current step and returns.
        """
        t = self.tcfg
        end = t.iterations if stop_after is None else min(t.iterations, stop_after)
        names = part_names(
            self.cfg.diffusion.train_steps, t.objective is TrainObjective.NOISE2NOISE
        )
        state = RunState(step=self.start_step)
        # the output folder's lock (rank 0's; :func:`.runlock.lock_run_folder`)
        lock = lock_run_folder(
            self.out, self.ctx.is_main, self._latest_at_start, self.ctx.broadcast_object
        )
        try:
            progress = self._open_progress(names, end)
            self.ddp_model.train()
            state.batches = iter(self._loader(state.step)) if end > state.step else iter(())
            window = LossWindow(names, self.device)
            try:
                self._train_steps(state, end, window, progress, on_step)
                progress.close_bar()
                self._finish(state, progress)
            finally:
                progress.close()
                state.batches = None  # the DataLoader's workers end now, also on an error
        finally:
            if lock is not None:
                lock.release()
        return TrainResult(
            step=state.step,
            iterations=t.iterations,
            interrupted=state.interrupted,
            checkpoint=state.checkpoint if self.ctx.is_main else None,
            model_dir=state.model_dir,
            weights_digest=weights_digest(unwrap_ddp(self.ddp_model)),
            last_loss=state.last_loss,
            val_psnr=state.val_psnr,
            rank=self.ctx.rank,
            world_size=self.ctx.world_size,
        )

    def _open_progress(self, names: list[str], end: int) -> RunProgress:
        """Rank 0 writes ``config.yaml`` and opens the log files and the bar."""
        if not self.ctx.is_main:
            return RunProgress(None, None, self.tcfg.iterations)
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "config.yaml").write_text(dump_config(self.cfg))
        return RunProgress.open(
            self.out,
            names,
            self.tcfg,
            start_step=self.start_step,
            resumed=self.resume_from is not None,
            show_bar=end > self.start_step,
            name=self.cfg.name,
        )

    def _train_steps(
        self,
        state: RunState,
        end: int,
        window: LossWindow,
        progress: RunProgress,
        on_step: Callable[[int], None] | None,
    ) -> None:
        """Optimiser steps until ``end`` or until any rank is asked to stop."""
        with StopSignal(announce=self.ctx.is_main) as stop:
            while state.step < end:
                batch = next_batch(state.batches, self.device)
                lr, total, parts = self._step(state.step, batch)
                state.step += 1
                window.add(total, parts)
                progress.show_step(state.step, window.count, total, lr)
                self._after_step(state, end, lr, window, progress)
                if on_step is not None:
                    on_step(state.step)
                if self.ctx.any(stop.requested):
                    state.interrupted = state.step < self.tcfg.iterations
                    break

    def _after_step(
        self, state: RunState, end: int, lr: float, window: LossWindow, progress: RunProgress
    ) -> None:
        """The periodic work after a step: a log row, validation, a checkpoint (collective)."""
        t, step = self.tcfg, state.step
        if step % t.log_every == 0 or step == end:
            state.last_loss, cols, rate, elapsed = window.flush(self.ctx.all_reduce_mean)
            cpu_hours = self.cpu_seconds() / 3600.0
            progress.log_train(step, lr, state.last_loss, cols, rate, elapsed, cpu_hours)
        if due(t.val_every, step, end):
            state.val_psnr = self._validate_and_log(step, progress)
        if due(t.checkpoint_every, step, end):
            state.checkpoint = self.save(step) or state.checkpoint

    def _finish(self, state: RunState, progress: RunProgress) -> None:
        """The end of a run: final validation and checkpoint, the model folder, a notice.

        A finished run validates unless it resumed at its last step with nothing to add; it
        saves a checkpoint unless nothing changed since one; rank 0 writes ``model/``.
        """
        t, main = self.tcfg, self.ctx.is_main
        finished = state.step >= t.iterations
        if finished and (state.step > self.start_step or not state.val_psnr):
            state.val_psnr = self._validate_and_log(state.step, progress)
        if state.step > self.start_step or state.checkpoint is None:
            state.checkpoint = self.save(state.step) or state.checkpoint
        if finished and main:
            with self._averaged() as model:
                state.model_dir = save_denoiser(self.out / "model", model, self.cfg, overwrite=True)
        if state.interrupted and main:
            print(
                f"expodiff: stopped at step {state.step}/{t.iterations}; checkpoint "
                f"{state.checkpoint}. Continue with the same command and --resume.",
                file=sys.stderr,
            )


def train(
    config: ExperimentConfig, *, resume: bool | str | Path = False, stop_after: int | None = None
) -> TrainResult:
    """Run a :class:`Trainer` (under torchrun's environment, if any), then shut DDP down."""
    trainer = Trainer(config, resume=resume)
    try:
        return trainer.run(stop_after=stop_after)
    finally:
        shutdown_distributed(trainer.ctx)
