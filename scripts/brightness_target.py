#!/usr/bin/env python
"""Measure ``expodiff.inference.ratio.BRIGHTNESS_TARGET``: the brightness of the training data.

The automatic exposure ratio of ``expodiff enhance`` brings a dark frame to the brightness of
the default model's training references. This script computes that brightness: the
statistic :func:`expodiff.inference.ratio.raw_brightness` (trimmed block mean) of every image
of the training split (CBSD68 + McMaster unprocessed with the SID training-scene metadata and
the brightness rule of ``docs/data.md``), whole frames, draw 0 of each image, and prints the
mean, median and spread. Also the plain mean of raw_norm, for comparison with docs/data.md.

    OMP_NUM_THREADS=1 .venv/bin/python scripts/brightness_target.py
"""

from __future__ import annotations

import statistics

from expodiff.config import DataConfig
from expodiff.data.augment import SampleTransform
from expodiff.data.factory import build_dataset
from expodiff.inference.ratio import BRIGHTNESS_TARGET, raw_brightness


def main() -> None:
    dataset = build_dataset(DataConfig(), "train", transform=SampleTransform())
    stats, means = [], []
    for i in range(len(dataset)):
        clean = dataset[i].clean
        stats.append(raw_brightness(clean))
        means.append(float(clean.mean()))
    print(f"images: {len(stats)}")
    print(
        f"trimmed block mean: mean {statistics.mean(stats):.4f}, median "
        f"{statistics.median(stats):.4f}, min {min(stats):.4f}, max {max(stats):.4f}"
    )
    print(f"plain mean of raw_norm: mean {statistics.mean(means):.4f}")
    print(f"BRIGHTNESS_TARGET in the package: {BRIGHTNESS_TARGET}")


if __name__ == "__main__":
    main()
