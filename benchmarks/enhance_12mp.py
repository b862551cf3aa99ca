#!/usr/bin/env python
"""Wall time of ``expodiff enhance`` on a 12-megapixel dark DNG at the default settings.

Writes two dark 12.1 MP DNGs of a withheld photograph (``Photos:val``, upscaled to 4256 x 2848,
Sony A7S2 noise with ELD's colour bias: ``tile_agreement.dark_frame``): a moderate one (ISO 3200
x100: the default model picks S = 1 and 4 views) and a harsh one (ISO 6400 x300: S = 2 and 2
views), then times the real CLI on each (``--ratio`` given, PNG output, a fresh process with
``OMP_NUM_THREADS`` threads) and prints the wall time, the summary line (steps, views,
consistency) and the peak memory of the process.

Time it on a quiet machine: beside another job timings are off by up to 5x.

    .venv/bin/python benchmarks/enhance_12mp.py --threads 2 [--model default] [--tile N]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

CONDITIONS = (("moderate", 3200, 100.0), ("harsh", 6400, 300.0))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--model", default="default")
    p.add_argument("--repeat", type=int, default=2, help="timed runs per file (the fastest)")
    p.add_argument("--tile", type=int, default=None, help="--tile of the CLI (default: its own)")
    args = p.parse_args(argv)
    from tile_agreement import dark_frame

    from expodiff.io.dng import write_frame_dng

    exe = Path(sys.executable).with_name("expodiff")
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    with tempfile.TemporaryDirectory() as tmp:
        for label, iso, ratio in CONDITIONS:
            name, _, dark = dark_frame(None, ratio=ratio, iso=iso, seed=0)
            src = write_frame_dng(Path(tmp) / f"{label}.dng", dark)
            best, line = None, ""
            for i in range(args.repeat):
                out = Path(tmp) / f"{label}-{i}.png"
                cmd = [str(exe), "enhance", str(src), "-o", str(out), "--ratio", f"{ratio:g}"]
                cmd += ["--model", args.model, "--quiet"]
                cmd += [] if args.tile is None else ["--tile", str(args.tile)]
                t0 = time.perf_counter()
                run = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
                wall = time.perf_counter() - t0
                best = wall if best is None else min(best, wall)
                line = run.stdout.strip().splitlines()[-1]
            peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
            print(f"{label} (Sony A7S2 ISO {iso} x{ratio:g}, {name}, 12.1 MP): {best:.1f} s wall, "
                  f"peak RSS so far {peak:.2f} GB; {line.split(': ', 1)[-1]}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
