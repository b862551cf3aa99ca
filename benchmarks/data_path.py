#!/usr/bin/env python
"""Cost of the training data path per sample: unprocessing in the workers vs on the device.

Builds the training split of a config (default: configs/candidates/unet-eld-bias.yaml, i.e.
CBSD68 + McMaster + Photos:train, 128^2 packed patches), warms the decoded-image cache with
one pass, then times on one thread:

* ``worker``: one sample as a DataLoader worker makes it today (crop + unprocess + flips);
* ``worker, deferred``: one sample with ``data.unprocess_on_device`` (crop only);
* ``device``: :meth:`SrgbBatch.unprocess` of one batch (``--batch``) where the batch is
  (``--device``: cpu here; cuda on a GPU machine).

    .venv/bin/python benchmarks/data_path.py [--config FILE] [--batch 32] [--device cpu]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def per_sample_ms(dataset, indices) -> float:
    t0 = time.perf_counter()
    for i in indices:
        dataset[i]
    return 1e3 * (time.perf_counter() - t0) / len(indices)


def main() -> None:
    from expodiff.config import load_config
    from expodiff.data.factory import build_dataset
    from expodiff.data.types import collate_samples
    from expodiff.kinds import Split

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=str(ROOT / "configs/candidates/unet-eld-bias.yaml"))
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--samples", type=int, default=256, help="timed samples per mode")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    torch.set_num_threads(1)
    cfg = load_config(args.config)
    plain = build_dataset(cfg.data, Split.TRAIN, seed=0)
    deferred = build_dataset(
        load_config(args.config, ["data.unprocess_on_device=true"]).data, Split.TRAIN, seed=0
    )
    n = len(plain)
    for ds in (plain, deferred):  # decode every image once (the cache of a long run)
        for i in range(n):
            ds[i]
    indices = [n + i % n for i in range(args.samples)]  # second draws: other crops
    worker = per_sample_ms(plain, indices)
    worker_deferred = per_sample_ms(deferred, indices)
    device = torch.device(args.device)
    times = []
    for k in range(5):
        batch = collate_samples([deferred[n + (k * args.batch + j) % n] for j in range(args.batch)])
        batch = batch.to(device)
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        batch.unprocess()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    on_device = 1e3 * statistics.median(times[1:])
    print(f"{n} training images, {cfg.data.patch_size}^2 packed patches, 1 thread")
    print(f"worker (crop + unprocess + flips): {worker:.2f} ms/sample")
    print(f"worker, deferred (crop only):      {worker_deferred:.2f} ms/sample")
    print(
        f"unprocess on {device} (batch {args.batch}): {on_device:.1f} ms/batch, "
        f"{on_device / args.batch:.2f} ms/sample"
    )


if __name__ == "__main__":
    main()
