"""The training loop of ``expodiff train``: one process, or many under ``torchrun`` (DDP).

What one optimiser step does (see docs/training.md):

1. the next batch of ``data.batch_size`` samples of the training split comes from DataLoader
   worker processes, in an order that is a pure function of ``(train.seed, step, rank)``
   (:class:`~expodiff.data.sampling.EpochSampler` + the datasets' per-item generators);
2. synthetic sources get noise synthesised batched on the device, with a per-sample gain K
   and ratio drawn by the noise model; real pairs (SID paired, ELD) bring theirs;
3. the objective (:mod:`expodiff.train.objectives`): Algorithm 1 of ExposureDiffusion
   (``diffusion.train_steps`` network evaluations; 1 is the feed-forward baseline) or
   Noise2Noise;
4. Adam with the paper's schedule (:mod:`expodiff.train.schedule`), optional gradient
   clipping, bf16 autocast and channels-last.

Everything random in the loop draws from one ``torch.Generator`` per rank whose state is saved
in every checkpoint together with the global RNGs and Adam's moments, so ``--resume``
continues bit for bit (same hardware, thread count and world size). Only rank 0 writes files:
``config.yaml``, ``log.csv``, ``val.csv``, ``tb/``, ``checkpoints/`` and, at the end,
``model/`` (the trained denoiser, see :func:`expodiff.io.modelfiles.load_denoiser`).
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
import warnings
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..config import ExperimentConfig, dump_config
from ..errors import ConfigError, ExpodiffError
from ..io.modelfiles import check_state_dict, save_denoiser
from ..kinds import DatasetKind, TrainObjective
from .checkpoint import (
    TrainerState,
    capture_rng,
    load_checkpoint,
    optimizer_from_flat,
    optimizer_to_flat,
    restore_rng,
    save_checkpoint,
)
from .distributed import DistContext, init_distributed, shutdown_distributed, weights_digest
from .objectives import noise2noise_loss, part_names, supervised_loss
from .resume import check_resume_config, find_resume_checkpoint
from .runlog import LossWindow, RunLog, StopSignal, ignore_sigint
from .schedule import learning_rate, set_learning_rate
from .validation import validation_psnr

__all__ = ["Trainer", "TrainResult", "train", "REAL_PAIR_KINDS"]

log = logging.getLogger("expodiff.train")

REAL_PAIR_KINDS = frozenset({DatasetKind.SID_PAIRED, DatasetKind.ELD})
_PREFETCH_BATCHES = 4  # per DataLoader worker


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


def _seed_for(*parts: Any) -> int:
    return zlib.crc32(repr(parts).encode()) & 0x7FFFFFFF


def _unwrap(module: torch.nn.Module) -> torch.nn.Module:
    return getattr(module, "module", module)  # DistributedDataParallel


def _next_batch(batches):
    """The next batch; a user error raised in a DataLoader worker keeps its one-line message."""
    try:
        return next(batches)
    except ExpodiffError as exc:
        text = str(exc)
        if "Original Traceback" not in text:
            raise
        last = text.rstrip().splitlines()[-1]
        raise type(exc)(last.split(": ", 1)[1] if ": " in last else last) from None


def check_train_config(cfg: ExperimentConfig) -> None:
    """Combinations of settings that cannot train (single-field checks live in the config)."""
    if cfg.train.objective is TrainObjective.NOISE2NOISE:
        if cfg.data.kind in REAL_PAIR_KINDS:
            raise ConfigError(
                "train.objective=noise2noise synthesises noisy-noisy pairs with the noise "
                f"model; data.kind={cfg.data.kind.value} provides real pairs (use unprocess, "
                "clean_raw or sid_synthetic)"
            )
        if cfg.diffusion.train_steps != 1 or cfg.diffusion.inference_steps != 1:
            raise ConfigError(
                "train.objective=noise2noise trains a feed-forward network: set "
                "diffusion.train_steps=1 and diffusion.inference_steps=1"
            )
    if cfg.diffusion.train_steps < 1 or cfg.diffusion.inference_steps < 1:
        raise ConfigError("diffusion.train_steps and diffusion.inference_steps must be >= 1")


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
        if self.tcfg.bf16_autocast and self.device.type == "cpu" and self.ctx.is_main:
            capability = torch.backends.cpu.get_cpu_capability()
            if "AVX512" not in capability and "AMX" not in capability:
                warnings.warn(
                    f"train.bf16_autocast on a CPU without native bf16 ({capability}) is much "
                    "slower than fp32 here",
                    stacklevel=2,
                )
        self.out = Path(self.tcfg.output_dir)
        self.resume_from = find_resume_checkpoint(self.out, resume)
        self._build()

    # ------------------------------------------------------------------ setup
    def _build(self) -> None:
        from ..build import build_denoiser
        from ..data.factory import build_dataset, has_split
        from ..data.types import Split
        from ..diffusion.process import ExposureProcess

        cfg, seed = self.cfg, self.tcfg.seed
        torch.manual_seed(seed)  # identical initial weights on every rank
        self.model = build_denoiser(cfg.model).to(self.device)
        if self.tcfg.channels_last:
            self.model.to_channels_last(True)
        self.process = ExposureProcess(cfg.noise.full_scale_dn, cfg.diffusion.reexposure)
        self.optimizer = torch.optim.Adam(
            self.model.parameters(),
            lr=self.tcfg.lr,
            betas=self.tcfg.adam_betas,
            weight_decay=self.tcfg.weight_decay,
        )
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(_seed_for("train", seed, self.ctx.rank))
        self.noise = None
        if cfg.data.kind not in REAL_PAIR_KINDS:
            from ..build import build_noise_model

            self.noise = build_noise_model(cfg.noise)
        self.train_set = build_dataset(cfg.data, Split.TRAIN, seed=seed)
        if len(self.train_set) == 0:
            raise ConfigError("the training split is empty")
        self.val_set = None
        if has_split(cfg.data, Split.VAL):
            self.val_set = build_dataset(cfg.data, Split.VAL, seed=seed)
            if len(self.val_set) == 0:
                self.val_set = None
            else:
                self.val_set[0]  # surface a bad validation setup now, not hours from now
        self.start_step = 0
        if self.resume_from is not None:
            self._load_resume(self.resume_from)
        self.ddp_model: torch.nn.Module = self.model
        if self.ctx.enabled:
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device.index] if self.device.type == "cuda" else None
            self.ddp_model = DistributedDataParallel(self.model, device_ids=ids)

    def _load_resume(self, path: Path) -> None:
        weights, config_yaml, state = load_checkpoint(path)
        check_resume_config(path, config_yaml, self.cfg, warn=self.ctx.is_main)
        check_state_dict(self.model, weights, str(path))
        self.model.load_state_dict(weights)
        optimizer_from_flat(self.optimizer, state.optimizer_tensors, state.optimizer_meta)
        if state.world_size == self.ctx.world_size and len(state.rng) == self.ctx.world_size:
            restore_rng(state.rng[self.ctx.rank], self.generator)
        else:
            if self.ctx.is_main:
                warnings.warn(
                    f"checkpoint was written by {state.world_size} rank(s), this run has "
                    f"{self.ctx.world_size}: random streams are re-seeded, so the run continues "
                    "correctly but not bit-identically",
                    stacklevel=3,
                )
            self.generator.manual_seed(
                _seed_for("resume", self.tcfg.seed, self.ctx.rank, state.step)
            )
        if state.step > self.tcfg.iterations:
            raise ConfigError(
                f"{path}: checkpoint is at step {state.step}, beyond train.iterations="
                f"{self.tcfg.iterations}"
            )
        self.start_step = state.step

    def _loader(self, start_step: int) -> torch.utils.data.DataLoader:
        from ..data.sampling import EpochSampler
        from ..data.types import collate_samples

        d = self.cfg.data
        sampler = EpochSampler(
            len(self.train_set),
            seed=self.tcfg.seed,
            start=start_step * d.batch_size,
            rank=self.ctx.rank,
            world_size=self.ctx.world_size,
        )
        return torch.utils.data.DataLoader(
            self.train_set,
            batch_size=d.batch_size,
            sampler=sampler,
            num_workers=d.num_workers,
            collate_fn=collate_samples,
            pin_memory=self.device.type == "cuda",
            drop_last=True,
            worker_init_fn=ignore_sigint,
            prefetch_factor=_PREFETCH_BATCHES if d.num_workers > 0 else None,
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
        return lr, total.detach(), parts

    # ------------------------------------------------------------------ validation
    def validate(self) -> dict[float, float]:
        """Mean PSNR (dB) per ratio on the validation split (see :mod:`.validation`)."""
        if self.val_set is None:
            return {}
        d = self.cfg.diffusion
        return validation_psnr(
            _unwrap(self.ddp_model),
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

    def _validate_and_log(self, step: int, runlog: RunLog | None, bar: Any) -> dict[float, float]:
        psnrs = self.ctx.broadcast_object(self.validate() if self.ctx.is_main else {})
        if runlog is not None and psnrs:
            runlog.val(step, psnrs)
            text = ", ".join(f"x{r:g} {v:.2f} dB" for r, v in psnrs.items())
            (bar.write if bar is not None else log.info)(f"step {step}: validation PSNR {text}")
        return psnrs

    # ------------------------------------------------------------------ files
    def save(self, step: int) -> Path | None:
        """Collective: every rank contributes its RNG state, rank 0 writes the checkpoint."""
        tensors, meta = optimizer_to_flat(self.optimizer)
        rng = self.ctx.gather_objects(capture_rng(self.generator))
        state = TrainerState(step, tensors, meta, rng, world_size=self.ctx.world_size)
        path = None
        if self.ctx.is_main:
            path = save_checkpoint(
                self.out,
                model_state=_unwrap(self.ddp_model).state_dict(),
                config_yaml=dump_config(self.cfg),
                state=state,
                keep=self.tcfg.keep_checkpoints,
            )
        self.ctx.barrier()
        return path

    # ------------------------------------------------------------------ dry run
    def dry_run(self) -> dict[str, Any]:
        """Load one batch and run one forward/backward pass; write nothing, step nothing."""
        from ..nets.flops import count_parameters

        loader = self._loader(self.start_step)
        t0 = time.perf_counter()
        batch = _next_batch(iter(loader)).to(self.device)
        t_data = time.perf_counter() - t0
        self.ddp_model.train()
        t0 = time.perf_counter()
        total, _ = self.loss(batch)
        total.backward()
        t_step = time.perf_counter() - t0
        self.optimizer.zero_grad(set_to_none=True)
        return {
            "parameters": count_parameters(self.model),
            "train_items": len(self.train_set),
            "val_items": len(self.val_set) if self.val_set is not None else 0,
            "batch_shape": tuple(batch.clean.shape),
            "real_pairs": batch.noisy is not None,
            "loss": float(total.detach()),
            "first_batch_s": t_data,
            "step_s": t_step,
            "start_step": self.start_step,
        }

    # ------------------------------------------------------------------ run
    def run(
        self, *, stop_after: int | None = None, on_step: Callable[[int], None] | None = None
    ) -> TrainResult:
        """Train from ``start_step`` to ``train.iterations`` (or until ``stop_after`` steps).

        ``on_step(step)`` is called after every completed step.
        """
        t, main = self.tcfg, self.ctx.is_main
        end = t.iterations if stop_after is None else min(t.iterations, stop_after)
        step = self.start_step
        names = part_names(
            self.cfg.diffusion.train_steps, t.objective is TrainObjective.NOISE2NOISE
        )
        runlog = bar = None
        if main:
            self.out.mkdir(parents=True, exist_ok=True)
            (self.out / "config.yaml").write_text(dump_config(self.cfg))
            resume_step = self.start_step if self.resume_from is not None else None
            runlog = RunLog(self.out, names, resume_step=resume_step, tensorboard=t.tensorboard)
            if t.progress and end > step and sys.stderr.isatty():
                from tqdm.auto import tqdm

                bar = tqdm(
                    total=t.iterations,
                    initial=step,
                    desc=self.cfg.name,
                    unit="it",
                    dynamic_ncols=True,
                    smoothing=0.1,
                )
        last_loss: float | None = None
        val_psnr: dict[float, float] = {}
        interrupted = False
        checkpoint: Path | None = None
        model_dir: Path | None = None
        self.ddp_model.train()
        batches = iter(self._loader(step)) if end > step else iter(())
        window = LossWindow(names, self.device)
        try:
            with StopSignal(announce=main) as stop:
                while step < end:
                    lr, total, parts = self._step(step, _next_batch(batches).to(self.device))
                    step += 1
                    window.add(total, parts)
                    if bar is not None:
                        bar.update(1)
                        if window.count == 1 or step % 10 == 0:
                            bar.set_postfix(
                                loss=f"{float(total):.4g}", lr=f"{lr:.1e}", refresh=False
                            )
                    if step % t.log_every == 0 or step == end:
                        last_loss, cols, rate, elapsed = window.flush(self.ctx.all_reduce_mean)
                        if runlog is not None:
                            runlog.train(step, lr, last_loss, cols, rate, elapsed)
                            if bar is None:  # no progress bar (e.g. a background run)
                                log.info(
                                    f"step {step}/{t.iterations}: loss {last_loss:.4g}, "
                                    f"lr {lr:.1e}, {rate:.3g} it/s"
                                )
                    if t.val_every and step % t.val_every == 0 and step < end:
                        val_psnr = self._validate_and_log(step, runlog, bar)
                    if t.checkpoint_every and step % t.checkpoint_every == 0 and step < end:
                        checkpoint = self.save(step) or checkpoint
                    if on_step is not None:
                        on_step(step)
                    if self.ctx.any(stop.requested):
                        interrupted = step < t.iterations
                        break
            if bar is not None:
                bar.close()
                bar = None
            finished = step >= t.iterations
            if finished and (step > self.start_step or not val_psnr):
                val_psnr = self._validate_and_log(step, runlog, None)
            if step > self.start_step or checkpoint is None:
                checkpoint = self.save(step) or checkpoint
            if finished and main:
                model_dir = save_denoiser(
                    self.out / "model", _unwrap(self.ddp_model), self.cfg, overwrite=True
                )
            if interrupted and main:
                print(
                    f"expodiff: stopped at step {step}/{t.iterations}; checkpoint {checkpoint}. "
                    "Continue with the same command and --resume.",
                    file=sys.stderr,
                )
        finally:
            if bar is not None:
                bar.close()
            if runlog is not None:
                runlog.close()
            del batches
        return TrainResult(
            step=step,
            iterations=t.iterations,
            interrupted=interrupted,
            checkpoint=checkpoint if main else None,
            model_dir=model_dir,
            weights_digest=weights_digest(_unwrap(self.ddp_model)),
            last_loss=last_loss,
            val_psnr=val_psnr,
            rank=self.ctx.rank,
            world_size=self.ctx.world_size,
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
