"""``expodiff evaluate``: PSNR/SSIM tables of models and baselines under a named protocol."""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import replace
from pathlib import Path

from ..config import load_config
from ..errors import ConfigError
from ..kinds import Baseline, EvalProtocol
from .arguments import enum_argument, integer_at_least, positive_float, seed
from .show_config import add_config_arguments


def _ratios(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.replace(" ", "").split(",") if v)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated numbers, got {text!r}"
        ) from None
    if not values or any(not (v >= 1 and math.isfinite(v)) for v in values):
        raise argparse.ArgumentTypeError(f"ratios must be finite numbers >= 1, got {text!r}")
    return values


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate",
        help="evaluate models and baselines under a named protocol",
        description=(
            "Evaluate trained models (--model) and baselines (--baseline) under a protocol "
            "(sid15-crop, sid-full, eld, synthetic). Writes report.md, summary.csv and "
            "per_image.csv into --output-dir (eval.output_dir) and prints the report. Every "
            "number is given as measured and with the ground-truth brightness correction."
        ),
    )
    add_config_arguments(p)
    p.add_argument(
        "--protocol",
        type=enum_argument(EvalProtocol),
        help="sid15-crop | sid-full | eld | synthetic",
    )
    p.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="[NAME=]PATH",
        help="a model folder (train's model/ or a checkpoint); repeatable",
    )
    p.add_argument(
        "--baseline",
        action="append",
        default=[],
        type=enum_argument(Baseline),
        metavar="NAME",
        help="scaled | bm3d | abm3d; repeatable",
    )
    p.add_argument("--root", help="dataset root for sid15-crop / sid-full / eld (eval.root)")
    p.add_argument("--ratios", type=_ratios, help="e.g. 100,250,300 (eval.ratios)")
    p.add_argument(
        "--steps",
        type=integer_at_least(1),
        help="sampler steps S for every model (default: each model's diffusion.inference_steps)",
    )
    p.add_argument(
        "--consistency",
        type=positive_float,
        metavar="SIGMA",
        help="also report every model with the input consistency of this Gaussian sigma "
        "(packed pixels; docs/method.md)",
    )
    p.add_argument(
        "--max-images", type=integer_at_least(1), metavar="N", help="at most N images per ratio"
    )
    p.add_argument("--seed", type=seed, help="noise / sampler seed, 0 to 2**64 - 1 (eval.seed)")
    p.add_argument("--srgb", action="store_true", help="also report sRGB metrics")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("-o", "--output-dir", help="where the tables go (eval.output_dir)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing report")
    p.set_defaults(func=run)


def _model_specs(specs: list[str]) -> list[tuple[str, Path]]:
    out = []
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep:
            name, path = "", spec
        if not path.strip():
            raise ConfigError(f"--model {spec!r}: the model path is empty; give a model folder")
        p = Path(path)
        out.append((name or (p.parent.name if p.name == "model" else p.name) or str(p), p))
    return out


def run(args: argparse.Namespace) -> int:
    import torch

    from ..build import load_denoiser
    from ..devices import resolve_device
    from ..diffusion.process import ExposureProcess
    from ..eval.protocols import BaselineMethod, ModelMethod, evaluate_pairs, protocol_pairs
    from ..eval.report import markdown_report, summarise, write_report
    from ..io.atomic import check_output_folder, check_output_path

    cfg = load_config(args.config, args.overrides)
    e = cfg.eval
    e = replace(
        e,
        protocol=args.protocol or e.protocol,
        root=args.root if args.root is not None else e.root,
        ratios=args.ratios if args.ratios is not None else e.ratios,
        max_images=args.max_images if args.max_images is not None else e.max_images,
        seed=args.seed if args.seed is not None else e.seed,
        srgb_metrics=args.srgb or e.srgb_metrics,
        output_dir=args.output_dir or e.output_dir,
    )
    cfg = replace(cfg, eval=e)
    if not args.model and not args.baseline:
        raise ConfigError("nothing to evaluate: give --model PATH and/or --baseline NAME")
    out = check_output_folder(e.output_dir, "--output-dir, eval.output_dir")
    if out.is_dir():  # refuse to replace a report before doing any work
        check_output_path(out / "report.md", overwrite=args.overwrite)
    device = resolve_device(args.device, 0)

    methods = []
    for name, path in _model_specs(args.model):
        denoiser, mcfg = load_denoiser(path, device=device)
        process = ExposureProcess(mcfg.noise.full_scale_dn, mcfg.diffusion.reexposure)
        steps = args.steps or mcfg.diffusion.inference_steps
        own = mcfg.diffusion.input_consistency_sigma
        variants = [own] + ([args.consistency] if args.consistency not in (None, own) else [])
        for sigma in variants:
            label = f"S={steps}" + (f", consistency {sigma:g}" if sigma else "")
            methods.append(
                ModelMethod(
                    f"{name} ({label})",
                    denoiser,
                    process,
                    steps=steps,
                    tile=e.tile,
                    overlap=e.tile_overlap,
                    input_consistency_sigma=sigma,
                )
            )
    for b in dict.fromkeys(args.baseline):
        methods.append(BaselineMethod(b, full_scale_dn=cfg.noise.full_scale_dn))
    names = [m.name for m in methods]
    if len(set(names)) != len(names):
        raise ConfigError(f"method names must be unique, got {names}; use --model NAME=PATH")

    pairs, notes = protocol_pairs(cfg, e.protocol, device=device)
    done = [0]

    def progress(n: int) -> None:
        done[0] = n
        print(f"\r{e.protocol.value}: {n} inputs evaluated", end="", file=sys.stderr, flush=True)

    with torch.inference_mode():
        results = evaluate_pairs(
            pairs, methods, seed=e.seed, srgb=e.srgb_metrics, progress=progress
        )
    print(file=sys.stderr)
    if not results:
        raise ConfigError(f"protocol {e.protocol.value}: no inputs matched (ratios {e.ratios})")
    title = f"expodiff evaluate: {e.protocol.value}"
    files = write_report(out, results, title=title, notes=notes)
    print(markdown_report(summarise(results), title=title, notes=notes))
    print(
        f"tables written to {files['report']}, {files['summary']}, {files['per_image']}",
        file=sys.stderr,
    )
    return 0
