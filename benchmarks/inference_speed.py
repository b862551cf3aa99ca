#!/usr/bin/env python
"""Inference speed of the ExposureDiffusion sampler: ms per megapixel per backbone and steps.

Times ``denoise_frame`` (expodiff.inference.trajectories: network evaluations + Poisson
re-exposure) under ``torch.inference_mode`` on random weights (speed does not depend on the
weights) and reports milliseconds per megapixel of the raw *mosaic* (a packed Bayer pixel is
4 mosaic pixels), for each execution variant:

* ``fp32``: contiguous NCHW float32 (the reference);
* ``channels_last``: weights and activations in NHWC memory format;
* ``bf16``: ``torch.autocast`` to bfloat16 (outputs and metrics stay float32); opt-in with
  ``--variants fp32,channels_last,bf16`` (on CPUs without native bf16 it is ~100x slower).

Defaults are small so the run finishes in a couple of minutes on a busy 2-core CPU. ``--full``
times a full 12-megapixel frame (Sony A7S II, packed 1424 x 2128) with tiled evaluation.
Run with the Makefile's ``GLIBC_TUNABLES`` (large-conv CPU time halves with it)::

    GLIBC_TUNABLES=glibc.malloc.mmap_threshold=4294967296:glibc.malloc.trim_threshold=68719476736 \\
        .venv/bin/python benchmarks/inference_speed.py
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import torch

from expodiff.build import build_denoiser
from expodiff.config import ModelConfig
from expodiff.defaults import TILE
from expodiff.diffusion.process import ExposureProcess
from expodiff.inference.trajectories import denoise_frame
from expodiff.nets.registry import PRESETS

VARIANTS = ("fp32", "channels_last", "bf16")
FULL_FRAME = (1424, 2128)  # packed size of a 4256 x 2848 Bayer frame


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--presets",
        default="unet,nafnet1,nafnet2",
        help=f"comma-separated presets (of {', '.join(PRESETS)})",
    )
    p.add_argument("--steps", default="1,3", help="comma-separated step counts S")
    p.add_argument(
        "--views", default="1", help="comma-separated dihedral views per evaluation (1, 2, 4, 8)"
    )
    p.add_argument("--size", type=int, default=128, help="packed side of the test image")
    p.add_argument(
        "--variants",
        default="fp32,channels_last",
        help=f"comma-separated execution variants (of {', '.join(VARIANTS)}; bf16 is ~100x "
        "slower on CPUs without native bf16 units, so it is opt-in)",
    )
    p.add_argument("--repeat", type=int, default=3, help="timed runs (the fastest is reported)")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    p.add_argument("--device", default="cpu")
    p.add_argument(
        "--full",
        action="store_true",
        help=f"a full 12 MP frame (packed {FULL_FRAME[0]}x{FULL_FRAME[1]}), tiled",
    )
    p.add_argument("--tile", type=int, default=TILE, help="tile side for --full (packed px)")
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    return p.parse_args(argv)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_one(
    model, noisy, steps: int, variant: str, repeat: int, tile: int, views: int = 1
) -> float:
    """Best-of-``repeat`` seconds of one ``denoise_frame`` call (robust to other load on the
    machine); ``tile`` 0: the whole frame at once."""
    device = noisy.device
    process = ExposureProcess()
    times = []
    for i in range(repeat + 1):  # the first run warms up kernels and allocators
        g = torch.Generator(device=device).manual_seed(i)
        _sync(device)
        t0 = time.perf_counter()
        denoise_frame(
            model,
            process,
            noisy,
            exposure_ratio=100.0,
            system_gain=1.0,
            steps=steps,
            seed=g,
            views=views,
            tile=tile,
            bf16=variant == "bf16",
        )
        _sync(device)
        if i:
            times.append(time.perf_counter() - t0)
    return min(times)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    presets = [s for s in args.presets.split(",") if s]
    steps_list = [int(s) for s in args.steps.split(",") if s]
    views_list = [int(v) for v in args.views.split(",") if v]
    variants = [v for v in args.variants.split(",") if v]
    for v in variants:
        if v not in VARIANTS:
            raise SystemExit(f"unknown variant {v!r}; valid: {', '.join(VARIANTS)}")
    h, w = FULL_FRAME if args.full else (args.size, args.size)
    mosaic_mp = h * w * 4 / 1e6
    torch.manual_seed(0)
    noisy = torch.rand(1, 4, h, w, device=device) * 0.5
    print(
        f"# torch {torch.__version__}, {platform.processor() or platform.machine()}, "
        f"{torch.get_num_threads()} threads, device {device}, "
        f"GLIBC_TUNABLES={'set' if os.environ.get('GLIBC_TUNABLES') else 'unset'}"
    )
    print(
        f"# input: packed {h}x{w} = {mosaic_mp:.2f} mosaic MP"
        + (f", tiles of {args.tile}" if args.full else "")
    )
    header = f"{'preset':10} {'steps':>5} {'views':>5} "
    print(header + " ".join(f"{v + ' ms/MP':>18}" for v in variants))
    results = []
    for name in presets:
        base = build_denoiser(ModelConfig(preset=name)).to(device).eval()
        for steps, views in [(s, v) for s in steps_list for v in views_list]:
            row = {"preset": name, "steps": steps, "views": views, "packed_hw": [h, w]}
            for variant in variants:
                model = base
                if variant == "channels_last":
                    model = build_denoiser(ModelConfig(preset=name)).to(device).eval()
                    model.load_state_dict(base.state_dict())
                    model.to_channels_last()
                tile = args.tile if args.full else 0
                sec = time_one(model, noisy, steps, variant, args.repeat, tile, views)
                row[f"{variant}_ms_per_mp"] = round(sec * 1e3 / mosaic_mp, 2)
            results.append(row)
            cells = " ".join(f"{row[f'{v}_ms_per_mp']:>18.1f}" for v in variants)
            print(f"{name:10} {steps:>5} {views:>5} {cells}", flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(
                {
                    "torch": torch.__version__,
                    "threads": torch.get_num_threads(),
                    "device": str(device),
                    "results": results,
                },
                fh,
                indent=2,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
