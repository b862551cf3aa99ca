"""The training loop of ``expodiff train``: one process, or many under ``torchrun`` (DDP).

What one optimiser step does (see docs/training.md):

1. the next batch of ``data.batch_size`` samples of the training split comes from DataLoader
   worker processes, in an order that is a pure function of ``(train.seed, step, rank)``
   (:class:`~expodiff.data.sampling.EpochSampler` + the datasets' per-item generators);
2. synthetic sources get noise synthesised batched on the device, with a per-sample gain K
   and ratio drawn by the noise model; real pairs (SID paired, ELD) bring theirs;
3. the objective: Algorithm 1 of ExposureDiffusion (``training_losses`` with
   ``diffusion.train_steps`` network evaluations; T = 1 is the feed-forward baseline) or
   Noise2Noise (L2 to a second, independent noisy realisation);
4. Adam with the paper's schedule (:mod:`expodiff.train.schedule`), optional gradient clipping,
   bf16 autocast and channels-last.

Everything random in the loop draws from one ``torch.Generator`` per rank whose state is saved
in every checkpoint together with the global RNGs and Adam's moments, so ``--resume``
continues bit for bit (on the same hardware, thread count and world size).
Only rank 0 writes files: ``config.yaml``, ``log.csv``, ``val.csv``, ``tb/`` (TensorBoard),
``checkpoints/`` and, at the end, ``model/`` (the trained denoiser, see
:func:`expodiff.train.modelio.load_denoiser`).
"""

from __future__ import annotations

import csv
import logging
import signal
import sys
import threading
import time
import warnings
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ..config import ExperimentConfig, config_from_dict, config_to_dict, dump_config
from ..data.kinds import DatasetKind
from ..errors import ConfigError, ModelError
from .checkpoint import (
    TrainerState,
    capture_rng,
    find_latest_checkpoint,
    load_checkpoint,
    optimizer_from_flat,
    optimizer_to_flat,
    restore_rng,
    save_checkpoint,
)
from .distributed import DistContext, init_distributed, shutdown_distributed, weights_digest
from .kinds import TrainObjective
from .modelio import check_state_dict, save_denoiser
from .schedule import learning_rate, set_learning_rate

__all__ = ["Trainer", "TrainResult", "train", "REAL_PAIR_KINDS"]

log = logging.getLogger("expodiff.train")

REAL_PAIR_KINDS = frozenset({DatasetKind.SID_PAIRED, DatasetKind.ELD})
# Config sections/keys that may differ between a checkpoint and the run resuming it.
_RESUME_FREE_KEYS = {
    ("train", "iterations"),
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
    ("name",),
}


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


class _StopSignal:
    """SIGINT/SIGTERM -> finish the current step, save a checkpoint, exit (second: abort)."""

    def __init__(self, announce: bool) -> None:
        self.requested = False
        self.signum: int | None = None
        self.announce = announce
        self._old: dict[int, Any] = {}

    def _handle(self, signum, frame) -> None:  # noqa: ARG002
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

    def __enter__(self) -> _StopSignal:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


def _worker_init(_worker_id: int) -> None:
    # Ctrl-C in a terminal reaches the whole process group: workers ignore it and the main
    # process decides (save a checkpoint, then shut the workers down).
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _seed_for(*parts: Any) -> int:
    return zlib.crc32(repr(parts).encode()) & 0x7FFFFFFF


def _unwrap(module: torch.nn.Module) -> torch.nn.Module:
    return getattr(module, "module", module)


def _config_diff(a: dict, b: dict, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = []
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key), b.get(key)
        if isinstance(va, dict) and isinstance(vb, dict):
            out += _config_diff(va, vb, prefix + (key,))
        elif va != vb:
            out.append(prefix + (key,))
    return out


class _CsvLog:
    """Append-only CSV with a fixed header; on resume, rows after the resumed step are cut."""

    def __init__(self, path: Path, header: list[str], *, resume_step: int | None) -> None:
        self.path = path
        self.header = header
        rows: list[list[str]] = []
        if resume_step is not None and path.is_file():
            with open(path, newline="") as fh:
                reader = csv.reader(fh)
                old_header = next(reader, None)
                if old_header == header:
                    rows = [r for r in reader if r and int(r[0]) <= resume_step]
        with open(path, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(header)
            w.writerows(rows)
        self._fh = open(path, "a", newline="")  # noqa: SIM115
        self._w = csv.writer(self._fh)

    def write(self, row: list[Any]) -> None:
        self._w.writerow([f"{v:.6g}" if isinstance(v, float) else v for v in row])
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()


class Trainer:
    """Builds everything a run needs from an :class:`ExperimentConfig` and runs it.

    Args:
        config: the resolved experiment config.
        resume: continue from the latest checkpoint under ``train.output_dir`` (True), from a
            given checkpoint folder (a path), or start fresh (False; refuses a folder that
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
        self.cfg = config
        self.tcfg = config.train
        self._check_config()
        self.ctx = ctx or init_distributed(self.tcfg.device)
        self.device = self.ctx.device
        if self.tcfg.num_threads:
            torch.set_num_threads(self.tcfg.num_threads)
        self.out = Path(self.tcfg.output_dir)
        self.resume_from = self._find_resume(resume)
        self._build()

    # ------------------------------------------------------------------ setup
    def _check_config(self) -> None:
        cfg, t = self.cfg, self.cfg.train
        if t.iterations < 1:
            raise ConfigError(f"train.iterations must be >= 1, got {t.iterations}")
        if t.objective is TrainObjective.NOISE2NOISE:
            if cfg.data.kind in REAL_PAIR_KINDS:
                raise ConfigError(
                    f"train.objective=noise2noise synthesises noisy-noisy pairs with the noise "
                    f"model; data.kind={cfg.data.kind.value} provides real pairs (use unprocess, "
                    "clean_raw or sid_synthetic)"
                )
            if cfg.diffusion.train_steps != 1 or cfg.diffusion.inference_steps != 1:
                raise ConfigError(
                    "train.objective=noise2noise trains a feed-forward network: set "
                    "diffusion.train_steps=1 and diffusion.inference_steps=1"
                )
        if cfg.diffusion.train_steps < 1 or cfg.diffusion.inference_steps < 1:
            raise ConfigError("diffusion.train_steps and inference_steps must be >= 1")

    def _find_resume(self, resume: bool | str | Path) -> Path | None:
        if resume is False or resume is None:
            existing = find_latest_checkpoint(self.out)
            if existing is not None:
                raise ConfigError(
                    f"{self.out}: already holds checkpoints ({existing.name}); pass --resume to "
                    "continue that run, or choose another train.output_dir"
                )
            return None
        if resume is True:
            found = find_latest_checkpoint(self.out)
            if found is None:
                raise ConfigError(f"{self.out}: no checkpoint to resume from")
            return found
        path = Path(resume)
        found = find_latest_checkpoint(path) if (path / "checkpoints").is_dir() else path
        if found is None or not (found / "trainer.json").is_file():
            raise ConfigError(f"{path}: not a checkpoint folder or a run folder with checkpoints")
        return found

    def _build(self) -> None:
        from ..data.factory import build_dataset, has_split
        from ..data.types import Split
        from ..diffusion.process import ExposureProcess
        from ..nets.registry import build_denoiser

        cfg = self.cfg
        torch.manual_seed(self.tcfg.seed)  # identical initial weights on every rank
        model = build_denoiser(cfg.model).to(self.device)
        if self.tcfg.channels_last:
            model.to_channels_last(True)
        self.model = model
        self.process = ExposureProcess(cfg.noise.full_scale_dn, cfg.diffusion.reexposure)
        self.optimizer = torch.optim.Adam(
            model.parameters(),
            lr=self.tcfg.lr,
            betas=self.tcfg.adam_betas,
            weight_decay=self.tcfg.weight_decay,
        )
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(_seed_for("train", self.tcfg.seed, self.ctx.rank))
        self.noise = None
        if cfg.data.kind not in REAL_PAIR_KINDS:
            from ..noise.factory import build_noise_model

            self.noise = build_noise_model(cfg.noise)
        self.train_set = build_dataset(cfg.data, Split.TRAIN, seed=self.tcfg.seed)
        if len(self.train_set) == 0:
            raise ConfigError("the training split is empty")
        self.val_set = (
            build_dataset(cfg.data, Split.VAL) if has_split(cfg.data, Split.VAL) else None
        )
        if self.val_set is not None:
            if len(self.val_set) == 0:
                self.val_set = None
            else:
                self.val_set[0]  # surface a bad validation setup now, not hours from now
        self.start_step = 0
        if self.resume_from is not None:
            self._load_resume(self.resume_from)
        self.ddp_model: torch.nn.Module = model
        if self.ctx.enabled:
            from torch.nn.parallel import DistributedDataParallel as DDP

            ids = [self.device.index] if self.device.type == "cuda" else None
            self.ddp_model = DDP(model, device_ids=ids)

    def _load_resume(self, path: Path) -> None:
        weights, config_yaml, state = load_checkpoint(path)
        import yaml

        saved = config_from_dict(yaml.safe_load(config_yaml))
        diffs = _config_diff(config_to_dict(saved), config_to_dict(self.cfg))
        blocking = [d for d in diffs if d not in _RESUME_FREE_KEYS and d[0] == "model"]
        if blocking:
            raise ModelError(
                f"{path}: the checkpoint's model differs from this config at "
                + ", ".join(".".join(d) for d in blocking)
            )
        others = [d for d in diffs if d not in _RESUME_FREE_KEYS and d not in blocking]
        if others and self.ctx.is_main:
            warnings.warn(
                "resuming with a config that differs from the checkpoint's at "
                + ", ".join(".".join(d) for d in others)
                + " (the run will not match an uninterrupted one)",
                stacklevel=2,
            )
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
                    stacklevel=2,
                )
            self.generator.manual_seed(
                _seed_for("resume", self.tcfg.seed, self.ctx.rank, state.step)
            )
        self.start_step = state.step
        if self.start_step > self.tcfg.iterations:
            raise ConfigError(
                f"{path}: checkpoint is at step {state.step}, beyond train.iterations="
                f"{self.tcfg.iterations}"
            )

    def _loader(self, start_step: int):
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
            worker_init_fn=_worker_init,
            persistent_workers=False,
            prefetch_factor=4 if d.num_workers > 0 else None,
        )

    # ------------------------------------------------------------------ steps
    def _autocast(self):
        return torch.autocast(
            device_type=self.device.type, dtype=torch.bfloat16, enabled=self.tcfg.bf16_autocast
        )

    def _pair(self, batch):
        if batch.noisy is not None:
            return batch.noisy_pair()
        assert self.noise is not None
        return self.noise.synthesize(batch.clean, generator=self.generator)

    def _prepare(self, t: torch.Tensor) -> torch.Tensor:
        if self.tcfg.channels_last:
            return t.contiguous(memory_format=torch.channels_last)
        return t

    def loss(self, batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The objective on one batch (already on the device): ``(total, parts)``."""
        from ..diffusion.losses import training_losses

        if self.tcfg.objective is TrainObjective.NOISE2NOISE:
            return self._n2n_loss(batch.clean)
        pair = self._pair(batch)
        pair = replace(pair, noisy=self._prepare(pair.noisy), clean=self._prepare(pair.clean))
        d = self.cfg.diffusion
        with self._autocast():
            out = training_losses(
                self.process,
                self.ddp_model,
                pair,
                steps=d.train_steps,
                loss=d.loss,
                aux_weight=d.aux_weight,
                step_weights=d.step_weights,
                generator=self.generator,
                oracle_illuminance_correction=d.oracle_illuminance_correction,
            )
        parts = {}
        per_step = getattr(out, "per_step", None)
        if per_step is not None:
            for i, v in enumerate(per_step):
                parts[f"loss_step{i + 1}"] = v.detach().float()
        return out.total.float(), parts

    def _n2n_loss(self, clean: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        assert self.noise is not None
        first = self.noise.synthesize(clean, generator=self.generator)
        second = self.noise.synthesize(
            clean, ratio=first.exposure_ratio, params=first.params, generator=self.generator
        )
        state = self._prepare(first.noisy)
        ones = torch.ones_like(first.exposure_ratio)
        photons = self.process.photon_level(state, ones, first.exposure_ratio, first.system_gain)
        with self._autocast():
            out = self.ddp_model(state, photons, state)
        loss = F.mse_loss(out.prediction.float(), second.noisy.float())
        return loss, {}

    # ------------------------------------------------------------------ validation
    @torch.no_grad()
    def validate(self) -> dict[float, float]:
        """Mean PSNR per ratio on the validation split (rank 0; fp32 metrics)."""
        from ..eval.protocols import ModelMethod, evaluate_pairs, pairs_from_dataset

        if self.val_set is None:
            return {}
        model = _unwrap(self.ddp_model)
        was_training = model.training
        model.eval()
        try:
            method = ModelMethod(
                "model",
                model,
                self.process,
                steps=self.cfg.diffusion.inference_steps,
                tile=None,
                bf16=self.tcfg.bf16_autocast,
                oracle_illuminance_correction=self.cfg.diffusion.oracle_illuminance_correction,
            )
            pairs = pairs_from_dataset(
                self.val_set,
                noise_model=self.noise,
                ratios=self.cfg.data.val_ratios,
                seed=self.tcfg.seed,
                max_images=self.tcfg.val_max_images,
                device=self.device,
                nominal_ratios=self.cfg.data.val_ratios,
            )
            results = evaluate_pairs(pairs, [method], seed=self.tcfg.seed, ssim_metric=False)
        finally:
            model.train(was_training)
        out: dict[float, list[float]] = {}
        for r in results:
            out.setdefault(r.ratio, []).append(r.metrics["psnr"])
        return {k: sum(v) / len(v) for k, v in sorted(out.items())}

    # ------------------------------------------------------------------ files
    def _state(self, step: int) -> TrainerState:
        tensors, meta = optimizer_to_flat(self.optimizer)
        rng = self.ctx.gather_objects(capture_rng(self.generator))
        return TrainerState(
            step=step,
            optimizer_tensors=tensors,
            optimizer_meta=meta,
            rng=rng,
            world_size=self.ctx.world_size,
        )

    def save(self, step: int) -> Path | None:
        """Collective: every rank contributes its RNG state, rank 0 writes the checkpoint."""
        state = self._state(step)
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
        it = iter(loader)
        t0 = time.perf_counter()
        batch = next(it).to(self.device)
        t_data = time.perf_counter() - t0
        self.ddp_model.train()
        t0 = time.perf_counter()
        total, _ = self.loss(batch)
        total.backward()
        t_step = time.perf_counter() - t0
        self.optimizer.zero_grad(set_to_none=True)
        del it, loader
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
        """Train from ``start_step`` to ``train.iterations`` (or ``stop_after`` steps total).

        ``on_step(step)`` is called after every completed step (tests use it to interrupt).
        """
        t = self.tcfg
        main = self.ctx.is_main
        end = t.iterations if stop_after is None else min(t.iterations, stop_after)
        step = self.start_step
        writer = None
        train_log = val_log = None
        resume_step = self.start_step if self.resume_from is not None else None
        part_names = self._part_names()
        if main:
            self.out.mkdir(parents=True, exist_ok=True)
            (self.out / "config.yaml").write_text(dump_config(self.cfg))
            train_log = _CsvLog(
                self.out / "log.csv",
                ["step", "lr", "loss", *part_names, "it_per_s", "elapsed_s"],
                resume_step=resume_step,
            )
            val_log = _CsvLog(
                self.out / "val.csv", ["step", "ratio", "psnr"], resume_step=resume_step
            )
            if t.tensorboard:
                writer = _tensorboard(self.out / "tb", purge_step=resume_step)
        last_loss: float | None = None
        val_psnr: dict[float, float] = {}
        interrupted = False
        checkpoint: Path | None = None
        bar = None
        if main and t.progress and end > step:
            from tqdm.auto import tqdm

            bar = tqdm(
                total=t.iterations,
                initial=step,
                desc=self.cfg.name,
                unit="it",
                dynamic_ncols=True,
                smoothing=0.1,
            )
        self.ddp_model.train()
        loader = self._loader(step) if end > step else None
        it = iter(loader) if loader is not None else None
        t0 = time.perf_counter()
        window_t, window_n = t0, 0
        loss_sum = torch.zeros((), device=self.device)
        parts_sum: dict[str, torch.Tensor] = {}
        try:
            with _StopSignal(announce=main) as stop:
                while step < end:
                    lr = learning_rate(
                        step,
                        t.iterations,
                        lr=t.lr,
                        halve_at=t.lr_halve_at,
                        final_at=t.lr_final_at,
                        final=t.lr_final,
                    )
                    set_learning_rate(self.optimizer, lr)
                    batch = next(it).to(self.device, non_blocking=True)
                    total, parts = self.loss(batch)
                    if not torch.isfinite(total):
                        raise FloatingPointError(f"loss became {float(total)} at step {step + 1}")
                    self.optimizer.zero_grad(set_to_none=True)
                    total.backward()
                    if t.grad_clip is not None:
                        torch.nn.utils.clip_grad_norm_(self.model.parameters(), t.grad_clip)
                    self.optimizer.step()
                    step += 1
                    window_n += 1
                    loss_sum += total.detach()
                    for k, v in parts.items():
                        parts_sum[k] = parts_sum.get(k, 0) + v
                    if bar is not None:
                        bar.update(1)
                        if window_n == 1 or step % 10 == 0:
                            bar.set_postfix(
                                loss=f"{float(total.detach()):.4g}", lr=f"{lr:.1e}", refresh=False
                            )
                    if step % t.log_every == 0 or step == end:
                        # Collective on every rank (same steps everywhere): mean over ranks.
                        last_loss = float(self.ctx.all_reduce_mean(loss_sum / window_n))
                        prow = [
                            float(self.ctx.all_reduce_mean(parts_sum[k] / window_n))
                            if k in parts_sum
                            else ""
                            for k in part_names
                        ]
                        now = time.perf_counter()
                        rate = window_n / max(now - window_t, 1e-9)
                        if main:
                            train_log.write([step, lr, last_loss, *prow, rate, now - t0])
                            if writer is not None:
                                writer.add_scalar("train/loss", last_loss, step)
                                writer.add_scalar("train/lr", lr, step)
                                writer.add_scalar("train/it_per_s", rate, step)
                                for k, v in zip(part_names, prow, strict=True):
                                    if v != "":
                                        writer.add_scalar(f"train/{k}", v, step)
                        window_t, window_n = now, 0
                        loss_sum = torch.zeros((), device=self.device)
                        parts_sum = {}
                    if t.val_every and step % t.val_every == 0 and step < end:
                        val_psnr = self._validate_and_log(step, val_log, writer, bar)
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
                val_psnr = self._validate_and_log(step, val_log, writer, None)
            if step > self.start_step or checkpoint is None:
                checkpoint = self.save(step) or checkpoint
            model_dir = None
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
            if train_log is not None:
                train_log.close()
            if val_log is not None:
                val_log.close()
            if writer is not None:
                writer.close()
            del it, loader
        digest = weights_digest(_unwrap(self.ddp_model))
        return TrainResult(
            step=step,
            iterations=t.iterations,
            interrupted=interrupted,
            checkpoint=checkpoint if main else None,
            model_dir=model_dir,
            weights_digest=digest,
            last_loss=last_loss,
            val_psnr=val_psnr,
            rank=self.ctx.rank,
            world_size=self.ctx.world_size,
        )

    def _part_names(self) -> list[str]:
        if self.tcfg.objective is TrainObjective.NOISE2NOISE:
            return []
        return [f"loss_step{i + 1}" for i in range(self.cfg.diffusion.train_steps)]

    def _validate_and_log(self, step, val_log, writer, bar) -> dict[float, float]:
        psnrs = self.validate() if self.ctx.is_main else {}
        psnrs = self.ctx.broadcast_object(psnrs)
        if self.ctx.is_main and psnrs:
            for ratio, value in psnrs.items():
                val_log.write([step, ratio, value])
                if writer is not None:
                    writer.add_scalar(f"val/psnr_x{ratio:g}", value, step)
            text = ", ".join(f"x{r:g} {v:.2f} dB" for r, v in psnrs.items())
            (bar.write if bar is not None else log.info)(f"step {step}: validation PSNR {text}")
        return psnrs


def _tensorboard(folder: Path, purge_step: int | None):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # optional dependency
        warnings.warn(
            "TensorBoard logging disabled: the 'tensorboard' package is not installed "
            "(pip install 'expodiff[research]', or set train.tensorboard=false)",
            stacklevel=3,
        )
        return None
    return SummaryWriter(str(folder), purge_step=purge_step)


def train(
    config: ExperimentConfig,
    *,
    resume: bool | str | Path = False,
    stop_after: int | None = None,
) -> TrainResult:
    """Run :class:`Trainer` under the torchrun environment (if any) and shut DDP down."""
    trainer = Trainer(config, resume=resume)
    try:
        return trainer.run(stop_after=stop_after)
    finally:
        shutdown_distributed(trainer.ctx)
