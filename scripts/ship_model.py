#!/usr/bin/env python
"""Copy a trained model into the package as the default model (fp16 safetensors + config).

The default model of ``expodiff enhance`` lives in ``src/expodiff/models/default/``
(``model.safetensors``, ``config.yaml``, ``MODEL_CARD.md``). This script loads a model or
checkpoint folder written by ``expodiff train`` (strictly, as ``enhance`` would), optionally
changes inference-only settings of its config, and writes the weights in half precision::

    .venv/bin/python scripts/ship_model.py runs/default/model \\
        --set diffusion.input_consistency_sigma=8 --overwrite

Only the sampler's inference settings (``INFERENCE_KEYS``) may be changed; everything that
shapes the network or what it was trained on stays as trained. A checkpoint of an unfinished
run (``trainer.json`` at step N of ``train.iterations`` T) ships with the recipe that stops
there: ``iterations`` N and the learning-rate boundaries moved so that every one of its N steps
has the rate it had in the run (checked step by step), and the weights are the run's average
(``train.ema_decay``) when the checkpoint keeps one. ``--average FOLDER`` (repeatable) ships
the mean of the weights of MODEL and of those folders (checkpoints of the same network, e.g.
of one run a few hundred steps apart); the recipe is MODEL's. The fp16 copy is checked (size at most
30 MB, finite weights, strict reload) before the package is touched. The model card is written
by hand.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
DEST = ROOT / "src" / "expodiff" / "models" / "default"
MAX_BYTES = 30 * 2**20  # issue 6: at most 30 MB
# The settings of the sampler at inference: everything else stays as trained.
INFERENCE_KEYS = (
    "diffusion.inference_steps",
    "diffusion.steps_by_signal",
    "diffusion.inference_evaluations",
    "diffusion.input_consistency_sigma",
    "diffusion.input_consistency_min_electrons",
    "diffusion.input_consistency_offset_min_electrons",
    "diffusion.reexposure",
)


def recipe_at_step(config, step: int):
    """``config`` with a train section that stops at ``step`` with the run's learning rates."""
    import dataclasses
    import math

    from expodiff.errors import ExpodiffError
    from expodiff.train.schedule import learning_rate

    t = config.train
    if not 0 < step <= t.iterations:
        raise ExpodiffError(f"checkpoint step {step} is outside the run's 1..{t.iterations}")

    def moved(fraction: float) -> float:
        boundary = math.floor(fraction * t.iterations)
        return 1.0 if boundary >= step else (boundary + 0.5) / step

    new = dataclasses.replace(
        t, iterations=step, lr_halve_at=moved(t.lr_halve_at), lr_final_at=moved(t.lr_final_at)
    )

    def rates(c):
        kw = {"lr": c.lr, "halve_at": c.lr_halve_at, "final_at": c.lr_final_at, "final": c.lr_final}
        return [learning_rate(i, c.iterations, **kw) for i in range(step)]

    if rates(new) != rates(t):
        raise ExpodiffError(f"cannot express the run's first {step} learning rates as a recipe")
    return dataclasses.replace(config, train=new)


def weights_of(folder: Path) -> tuple[torch.nn.Module, object]:
    """``(denoiser, config)`` of a model or checkpoint folder; a checkpoint's moving average of
    the weights (``train.ema_decay``) replaces its raw weights when it keeps one."""
    from expodiff.build import load_denoiser
    from expodiff.train.checkpoint import load_checkpoint

    denoiser, config = load_denoiser(folder)
    if (folder / "trainer.json").is_file() and (folder / "trainer.safetensors").is_file():
        _, _, state = load_checkpoint(folder)
        if state.ema_tensors:
            denoiser.load_state_dict({**denoiser.state_dict(), **state.ema_tensors})
    return denoiser, config


def averaged(denoiser: torch.nn.Module, config, others: list[Path]) -> torch.nn.Module:
    """``denoiser`` with the mean of its weights and those of the folders ``others``."""
    from expodiff.errors import ExpodiffError

    states = [denoiser.state_dict()]
    for folder in others:
        other, other_config = weights_of(folder)
        if other_config.model != config.model:
            raise ExpodiffError(f"--average {folder}: another network ({other_config.model})")
        states.append(other.state_dict())
    mean = {
        k: torch.stack([st[k].double() for st in states]).mean(0).to(v.dtype)
        if v.is_floating_point()
        else v
        for k, v in states[0].items()
    }
    denoiser.load_state_dict(mean)
    return denoiser


def main(argv: list[str] | None = None) -> int:
    from expodiff.build import load_denoiser
    from expodiff.config import apply_overrides, config_from_dict, config_to_dict
    from expodiff.errors import ExpodiffError
    from expodiff.io.modelfiles import MODEL_FILE, save_denoiser

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", type=Path, help="model or checkpoint folder from expodiff train")
    ap.add_argument("--dest", type=Path, default=DEST, help=f"default {DEST.relative_to(ROOT)}")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--overwrite", action="store_true", help="replace an existing model there")
    ap.add_argument(
        "--average", action="append", default=[], type=Path, metavar="FOLDER",
        help="ship the mean of MODEL's weights and this folder's (repeatable)",
    )  # fmt: skip
    args = ap.parse_args(argv)
    try:
        denoiser, config = weights_of(args.model)
        denoiser = averaged(denoiser, config, args.average)
        trainer = args.model / "trainer.json"
        if trainer.is_file():  # a checkpoint: the recipe that stops at its step
            config = recipe_at_step(config, int(json.loads(trainer.read_text())["step"]))
        for item in args.overrides:
            if item.split("=", 1)[0].strip() not in INFERENCE_KEYS:
                raise ExpodiffError(f"--set {item}: only {', '.join(INFERENCE_KEYS)} may change")
        if args.overrides:
            config = config_from_dict(apply_overrides(config_to_dict(config), args.overrides))
        with tempfile.TemporaryDirectory() as staging:
            # Check the fp16 copy (size, finite, strict reload) before touching the package.
            save_denoiser(staging, denoiser, config, dtype=torch.float16)
            size = (Path(staging) / MODEL_FILE).stat().st_size
            if size > MAX_BYTES:
                raise ExpodiffError(f"{args.model}: {size / 2**20:.1f} MB in fp16, over 30 MB")
            staged, _ = load_denoiser(staging)
            if not all(torch.isfinite(t).all() for t in staged.state_dict().values()):
                raise ExpodiffError(f"{args.model}: weights overflow in fp16")
        save_denoiser(args.dest, denoiser, config, overwrite=args.overwrite, dtype=torch.float16)
    except ExpodiffError as exc:
        print(f"ship_model: {exc}", file=sys.stderr)
        return 1
    print(f"shipped {args.model} -> {args.dest} ({size / 2**20:.2f} MB fp16)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
