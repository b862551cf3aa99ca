#!/usr/bin/env python
"""Time noise synthesis on a full Sony A7S II packed frame (1 x 4 x 1424 x 2128).

Prints the median wall time of each noise component (:mod:`expodiff.noise.components`) and
of whole-model synthesis per preset (``NoiseModel.synthesize``), and, for comparison, the
official ELD / ExposureDiffusion way of sampling the same frame on the CPU (numpy Poisson +
``scipy.stats.tukeylambda.rvs`` per pixel). Issue 3 asks for ``eld`` synthesis well under
one U-Net forward at this size (~10 s on the 2-core CPU). Not a test.

Run with the Makefile's ``GLIBC_TUNABLES`` (without it, page faults of the large temporaries
cost as much as the arithmetic)::

    GLIBC_TUNABLES=glibc.malloc.mmap_threshold=4294967296:glibc.malloc.trim_threshold=68719476736 \\
        .venv/bin/python benchmarks/noise_speed.py [--runs 5] [--device cuda] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

import torch

from expodiff.defaults import DEFAULT_CAMERA
from expodiff.defaults import ELD_FULL_SCALE_DN as FSD
from expodiff.io.profiles import load_profile
from expodiff.noise import NoiseModel, NoisePreset
from expodiff.noise import components as C

SONY_PACKED = (1, 4, 1424, 2128)  # Sony A7S II, 2848 x 4256 mosaic


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_time(fn, runs: int, device: torch.device) -> float:
    fn()  # warm-up (allocator, kernels)
    times = []
    for _ in range(runs):
        _sync(device)
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="timed runs per item (median)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ...")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--no-reference", action="store_true", help="skip the numpy/scipy row")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    g = torch.Generator(device=device).manual_seed(0)

    clean = torch.rand(SONY_PACKED, generator=g, device=device)
    ratio = 200.0
    signal = clean * (FSD / ratio)
    b = SONY_PACKED[0]
    k = torch.full((b,), 2.0, device=device)
    sigma = torch.full((b,), 3.0, device=device)
    lam = torch.full((b,), -0.1, device=device)
    lam0 = torch.zeros(b, device=device)
    bias = torch.ones(b, 4, device=device)

    items = {
        "poisson shot": lambda: C.poisson_shot_noise(signal, k, generator=g),
        "gaussian shot": lambda: C.gaussian_shot_noise(signal, k, generator=g),
        "gaussian read": lambda: C.gaussian_read_noise(clean.shape, sigma, like=clean, generator=g),
        "tukey read (lambda=-0.1)": lambda: C.tukey_lambda_noise(
            clean.shape, lam, sigma, like=clean, generator=g
        ),
        "tukey read (lambda=0)": lambda: C.tukey_lambda_noise(
            clean.shape, lam0, sigma, like=clean, generator=g
        ),
        "row": lambda: C.row_noise(clean.shape, sigma, like=clean, generator=g),
        "quantization": lambda: C.quantization_noise(clean.shape, like=clean, generator=g),
        "colour bias": lambda: clean + C.colour_bias_noise(bias, like=clean),
    }
    for preset in NoisePreset:
        model = NoiseModel.from_preset(preset, [load_profile(DEFAULT_CAMERA)])
        items[f"synthesize {preset.value}"] = lambda model=model: model.synthesize(
            clean, ratio=ratio, generator=g
        )
    results = {name: median_time(fn, args.runs, device) for name, fn in items.items()}

    if not args.no_reference:
        import numpy as np
        from scipy import stats

        y = (clean.cpu().numpy() * (FSD / ratio)).astype(np.float32)

        # what the official code does per image (ExposureDiffusion noise.py, numpy/scipy)
        reference = {
            "reference numpy poisson": lambda: np.random.poisson(y / 2.0),
            "reference scipy tukeylambda.rvs": lambda: stats.tukeylambda.rvs(-0.1, size=y.shape),
        }
        for name, fn in reference.items():
            results[name] = median_time(fn, max(1, min(args.runs, 2)), torch.device("cpu"))

    meta = {
        "shape": list(SONY_PACKED),
        "device": str(device),
        "threads": torch.get_num_threads(),
        "runs": args.runs,
        "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(),
        "glibc_tunables": os.environ.get("GLIBC_TUNABLES", ""),
    }
    if args.json:
        print(json.dumps({"meta": meta, "seconds": results}, indent=2))
        return 0
    print(
        f"noise synthesis, packed {'x'.join(map(str, SONY_PACKED))} on {device} "
        f"({meta['threads']} threads, median of {args.runs}; torch {torch.__version__})"
    )
    if not meta["glibc_tunables"] and device.type == "cpu":
        print("note: GLIBC_TUNABLES not set; see the module docstring", file=sys.stderr)
    for name, seconds in results.items():
        print(f"  {name:<42} {seconds * 1000:9.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
