"""What a :class:`~expodiff.train.loop.Trainer` is assembled from, built from the config.

* :func:`check_train_config`: combinations of settings that cannot train;
* :func:`build_optimizer`, :func:`build_datasets`, :func:`train_loader`, :func:`wrap_ddp`:
  Adam, the training and validation splits, the DataLoader whose batch order is a pure
  function of ``(train.seed, step, rank)``, and DistributedDataParallel;
* :func:`restore_checkpoint`: weights, Adam's moments and this rank's generator from a
  checkpoint, for ``--resume``;
* :func:`seed_for`, :func:`next_batch`, :func:`unwrap_ddp`: small helpers of the loop.
"""

from __future__ import annotations

import warnings
import zlib
from pathlib import Path
from typing import Any

import torch

from ..config import DataConfig, ExperimentConfig, TrainConfig
from ..defaults import MAX_INFERENCE_STEPS
from ..errors import ConfigError, ExpodiffError
from ..io.modelfiles import check_state_dict
from ..kinds import DatasetKind, TrainObjective
from .checkpoint import TrainerState, load_checkpoint, optimizer_from_flat, restore_rng
from .distributed import DistContext
from .resume import check_resume_config
from .runlog import ignore_sigint

__all__ = [
    "REAL_PAIR_KINDS",
    "build_datasets",
    "build_optimizer",
    "check_train_config",
    "dry_run_step",
    "next_batch",
    "restore_checkpoint",
    "seed_for",
    "train_loader",
    "unwrap_ddp",
    "warn_if_slow_bf16",
    "wrap_ddp",
]

REAL_PAIR_KINDS = frozenset({DatasetKind.SID_PAIRED, DatasetKind.ELD})
_PREFETCH_BATCHES = 4  # per DataLoader worker


def seed_for(*parts: Any) -> int:
    """A 31-bit seed that is a pure function of ``parts`` (their ``repr``)."""
    return zlib.crc32(repr(parts).encode()) & 0x7FFFFFFF


def unwrap_ddp(module: torch.nn.Module) -> torch.nn.Module:
    """The module inside a DistributedDataParallel wrapper (or ``module`` itself)."""
    return getattr(module, "module", module)


def next_batch(batches, device: torch.device | str):
    """The next batch on ``device``, unprocessed there if the workers deferred it
    (``data.unprocess_on_device``); a user error raised in a DataLoader worker keeps its
    one-line message."""
    from ..data.types import SrgbBatch

    try:
        batch = next(batches)
    except ExpodiffError as exc:
        text = str(exc)
        if "Original Traceback" not in text:
            raise
        last = text.rstrip().splitlines()[-1]
        raise type(exc)(last.split(": ", 1)[1] if ": " in last else last) from None
    batch = batch.to(device)
    return batch.unprocess() if isinstance(batch, SrgbBatch) else batch


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
    if cfg.data.unprocess_on_device and cfg.data.kind is not DatasetKind.UNPROCESS:
        raise ConfigError(
            "data.unprocess_on_device needs data.kind=unprocess (clean sRGB sets), "
            f"got {cfg.data.kind.value}"
        )
    if cfg.data.unprocess_on_device and cfg.data.cache is not None:
        raise ConfigError(
            "data.unprocess_on_device and data.cache exclude each other (the patch cache "
            "holds patches that are already unprocessed)"
        )
    if cfg.diffusion.train_steps < 1 or cfg.diffusion.inference_steps < 1:
        raise ConfigError("diffusion.train_steps and diffusion.inference_steps must be >= 1")
    if cfg.diffusion.inference_steps > MAX_INFERENCE_STEPS:
        # the trained model could not be loaded (expodiff.io.modelfiles.check_inference_steps)
        raise ConfigError(
            f"diffusion.inference_steps must be <= {MAX_INFERENCE_STEPS} (network evaluations "
            f"per image), got {cfg.diffusion.inference_steps}"
        )


def warn_if_slow_bf16(tcfg: TrainConfig, device: torch.device) -> None:
    """Warn (at the caller's caller) when bf16 autocast runs on a CPU without native bf16."""
    if tcfg.bf16_autocast and device.type == "cpu":
        capability = torch.backends.cpu.get_cpu_capability()
        if "AVX512" not in capability and "AMX" not in capability:
            warnings.warn(
                f"train.bf16_autocast on a CPU without native bf16 ({capability}) is much "
                "slower than fp32 here",
                stacklevel=3,
            )


def build_optimizer(model: torch.nn.Module, tcfg: TrainConfig) -> torch.optim.Adam:
    """Adam over ``model``'s parameters with the config's learning rate, betas and decay."""
    return torch.optim.Adam(
        model.parameters(),
        lr=tcfg.lr,
        betas=tcfg.adam_betas,
        weight_decay=tcfg.weight_decay,
    )


def init_weights(model: torch.nn.Module, source: str | Path) -> None:
    """Copy the weights of a trained model (``train.init_from``) into ``model``, strictly.

    Raises ConfigError naming ``source`` when it is not a readable model or its network
    differs from ``model`` (missing, unexpected or differently shaped tensors).
    """
    from ..build import load_denoiser

    try:
        trained, _ = load_denoiser(source)
        state = trained.state_dict()
        check_state_dict(model, state, f"train.init_from {source}")
    except ExpodiffError as exc:
        raise ConfigError(str(exc)) from None
    model.load_state_dict(state, strict=True)


def build_datasets(data: DataConfig, seed: int) -> tuple[Any, Any | None]:
    """``(training split, validation split or None)``; raises on an empty training split."""
    from ..data.factory import build_dataset, has_split
    from ..data.types import Split

    train_set = build_dataset(data, Split.TRAIN, seed=seed)
    if len(train_set) == 0:
        raise ConfigError("the training split is empty")
    val_set = None
    if has_split(data, Split.VAL):
        val_set = build_dataset(data, Split.VAL, seed=seed)
        if len(val_set) == 0:
            val_set = None
        else:
            val_set[0]  # surface a bad validation set-up now, not hours from now
    return train_set, val_set


def train_loader(
    train_set: Any, data: DataConfig, *, seed: int, start_step: int, ctx: DistContext
) -> torch.utils.data.DataLoader:
    """This rank's batches from ``start_step`` on, in an order fixed by ``(seed, step, rank)``."""
    from ..data.epochs import EpochSampler
    from ..data.types import collate_samples

    sampler = EpochSampler(
        len(train_set),
        seed=seed,
        start=start_step * data.batch_size,
        rank=ctx.rank,
        world_size=ctx.world_size,
    )
    return torch.utils.data.DataLoader(
        train_set,
        batch_size=data.batch_size,
        sampler=sampler,
        num_workers=data.num_workers,
        collate_fn=collate_samples,
        pin_memory=ctx.device.type == "cuda",
        drop_last=True,
        worker_init_fn=ignore_sigint,
        prefetch_factor=_PREFETCH_BATCHES if data.num_workers > 0 else None,
    )


def wrap_ddp(model: torch.nn.Module, ctx: DistContext) -> torch.nn.Module:
    """``model`` in DistributedDataParallel when the run is distributed, else ``model``."""
    if not ctx.enabled:
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [ctx.device.index] if ctx.device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)


def restore_checkpoint(
    path: Path,
    cfg: ExperimentConfig,
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    generator: torch.Generator,
    ctx: DistContext,
) -> TrainerState:
    """Load a checkpoint into ``model``, ``optimizer`` and ``generator``; return its state
    (the step, and ``extra``: the run's cumulative CPU seconds).

    With the world size the checkpoint was written by, this rank's generator continues bit
    for bit; with another, the generators are re-seeded (with a warning).

    Raises:
        ConfigError: the checkpoint's config cannot continue as ``cfg``, or its step is
            beyond ``train.iterations``.
    """
    weights, config_yaml, state = load_checkpoint(path)
    check_resume_config(path, config_yaml, cfg, warn=ctx.is_main)
    check_state_dict(model, weights, str(path))
    model.load_state_dict(weights)
    optimizer_from_flat(optimizer, state.optimizer_tensors, state.optimizer_meta)
    if state.world_size == ctx.world_size and len(state.rng) == ctx.world_size:
        restore_rng(state.rng[ctx.rank], generator)
    else:
        if ctx.is_main:
            warnings.warn(
                f"checkpoint was written by {state.world_size} rank(s), this run has "
                f"{ctx.world_size}: random streams are re-seeded, so the run continues "
                "correctly but not bit-identically",
                stacklevel=3,
            )
        generator.manual_seed(seed_for("resume", cfg.train.seed, ctx.rank, state.step))
    if state.step > cfg.train.iterations:
        raise ConfigError(
            f"{path}: checkpoint is at step {state.step}, beyond train.iterations="
            f"{cfg.train.iterations}"
        )
    return state


def dry_run_step(trainer) -> dict:
    """One batch loaded and one forward/backward pass of ``trainer`` (a
    :class:`~expodiff.train.loop.Trainer`), its gradients cleared: what ``expodiff train
    --dry-run`` reports (sizes, loss, seconds). Writes nothing, steps nothing."""
    import time

    from ..nets.flops import count_parameters

    loader = trainer._loader(trainer.start_step)
    t0 = time.perf_counter()
    batch = next_batch(iter(loader), trainer.device)
    t_data = time.perf_counter() - t0
    trainer.ddp_model.train()
    t0 = time.perf_counter()
    total, _ = trainer.loss(batch)
    total.backward()
    t_step = time.perf_counter() - t0
    trainer.optimizer.zero_grad(set_to_none=True)
    return {
        "parameters": count_parameters(trainer.model),
        "train_items": len(trainer.train_set),
        "val_items": len(trainer.val_set) if trainer.val_set is not None else 0,
        "batch_shape": tuple(batch.clean.shape),
        "real_pairs": batch.noisy is not None,
        "loss": float(total.detach()),
        "first_batch_s": t_data,
        "step_s": t_step,
        "start_step": trainer.start_step,
    }
