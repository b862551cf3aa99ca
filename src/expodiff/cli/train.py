"""``expodiff train``: train a denoiser from a YAML experiment config (docs/training.md)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from ..config import load_config
from ..errors import ConfigError
from .show_config import add_config_arguments
from .streams import StderrHandler


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train ExposureDiffusion, the feed-forward baseline or Noise2Noise",
        description=(
            "Train a denoiser from an experiment config (configs/*.yaml). Writes config.yaml, "
            "log.csv, val.csv, tb/ (TensorBoard), checkpoints/ and, at the end, model/ under "
            "train.output_dir. Ctrl-C saves a checkpoint; --resume continues exactly. "
            "Distributed: torchrun --nproc_per_node N -m expodiff train ..."
        ),
    )
    add_config_arguments(p)
    p.add_argument(
        "--resume",
        nargs="?",
        const=True,
        default=False,
        metavar="PATH",
        help="continue from the latest checkpoint in train.output_dir, or from PATH (a run "
        "folder or a checkpoint folder; its config is used when --config is not given); the "
        "run continues in PATH's run folder unless --set train.output_dir names another",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="build everything, run one forward/backward pass on one batch, write nothing",
    )
    p.add_argument(
        "--stop-after",
        type=int,
        metavar="STEP",
        help="stop (with a checkpoint) once STEP steps are done, keeping the schedule of "
        "train.iterations; continue later with --resume",
    )
    p.set_defaults(func=run)


def _config(args: argparse.Namespace):
    if args.config is None and isinstance(args.resume, str):
        from ..train.checkpoint import find_latest_checkpoint

        path = Path(args.resume)
        ckpt = find_latest_checkpoint(path) if (path / "checkpoints").is_dir() else path
        if ckpt is None or not (ckpt / "config.yaml").is_file():
            raise ConfigError(f"{path}: no checkpoint with a config.yaml to resume from")
        return _resume_into(load_config(ckpt / "config.yaml", args.overrides), args)
    if args.config is None:
        raise ConfigError("--config FILE is required (or --resume RUN_FOLDER)")
    return _resume_into(load_config(args.config, args.overrides), args)


def _resume_into(cfg, args: argparse.Namespace):
    """``--resume PATH`` continues the run PATH belongs to in PATH's run folder (a copied run
    folder writes into the copy, never into the output_dir its config recorded), unless
    ``--set train.output_dir=...`` names the folder. A checkpoint outside a run folder needs
    one of them (or --config)."""
    from dataclasses import replace

    from ..train.resume import run_folder_of

    if not isinstance(args.resume, str):
        return cfg
    if any(o.split("=", 1)[0].strip() == "train.output_dir" for o in args.overrides):
        return cfg
    run = run_folder_of(args.resume)
    if run is None:
        if args.config is None:
            raise ConfigError(
                f"{args.resume}: a checkpoint outside a run folder; say where the run "
                "continues with --set train.output_dir=FOLDER"
            )
        return cfg
    return replace(cfg, train=replace(cfg.train, output_dir=str(run)))


def _earlier_stage(cfg, args: argparse.Namespace, logger):
    """Train the earlier stage a staged config starts from, when its model is missing.

    Returns the config to train now, or the exit status of an interrupted earlier stage.
    """
    from ..train.stages import plan_stages

    plan = plan_stages(cfg, dry_run=args.dry_run)
    if plan.note:
        logger.info(plan.note)
    if plan.earlier is not None and not args.dry_run:
        sub = argparse.Namespace(
            **{**vars(args), "resume": plan.earlier_resumes, "stop_after": None}
        )
        status = run(sub, config=plan.earlier)
        if status:
            return status
    return plan.config


def run(args: argparse.Namespace, config=None) -> int:
    from ..io.atomic import check_output_folder
    from ..train.distributed import shutdown_distributed
    from ..train.loop import Trainer

    cfg = _config(args) if config is None else config
    if args.stop_after is not None and args.stop_after < 1:
        raise ConfigError(f"--stop-after must be >= 1, got {args.stop_after}")
    check_output_folder(cfg.train.output_dir, "train.output_dir")
    logger = logging.getLogger("expodiff.train")
    if not logger.handlers:  # progress lines and validation results on stderr
        handler = StderrHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    if not args.resume:
        status = _earlier_stage(cfg, args, logger)
        if isinstance(status, int):
            return status
        cfg = status
        check_output_folder(cfg.train.output_dir, "train.output_dir")
    trainer = Trainer(cfg, resume=args.resume)
    ctx = trainer.ctx
    try:
        if args.dry_run:
            info = trainer.dry_run()
            if ctx.is_main:
                print(
                    f"dry run of {cfg.name}: {info['parameters']:,} parameters, "
                    f"{info['train_items']} training / {info['val_items']} validation items, "
                    f"batch {info['batch_shape']} "
                    f"({'real pairs' if info['real_pairs'] else 'noise synthesised'}), "
                    f"loss {info['loss']:.4g}, first batch {info['first_batch_s']:.2f} s, "
                    f"forward+backward {info['step_s']:.2f} s; would train steps "
                    f"{info['start_step']}..{cfg.train.iterations} into {cfg.train.output_dir} "
                    "(nothing written)"
                )
            return 0
        result = trainer.run(stop_after=args.stop_after)
    finally:
        shutdown_distributed(ctx)
    if result.world_size > 1:
        print(
            f"rank {result.rank}/{result.world_size}: step {result.step}, "
            f"weights sha256 {result.weights_digest}",
            file=sys.stderr,
        )
    if ctx.is_main:
        val = ", ".join(f"x{r:g} {v:.2f} dB" for r, v in result.val_psnr.items())
        where = (
            f"model {result.model_dir}" if result.model_dir else f"checkpoint {result.checkpoint}"
        )
        print(
            f"{cfg.name}: step {result.step}/{result.iterations}"
            + (f", loss {result.last_loss:.4g}" if result.last_loss is not None else "")
            + (f", validation PSNR {val}" if val else "")
            + f"; {where}"
        )
    return 130 if result.interrupted else 0
