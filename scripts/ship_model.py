#!/usr/bin/env python
"""Copy a trained model into the package as the default model (fp16 safetensors + config).

The default model of ``expodiff enhance`` lives in ``src/expodiff/models/default/``
(``model.safetensors``, ``config.yaml``, ``MODEL_CARD.md``). This script loads a model or
checkpoint folder written by ``expodiff train`` (strictly, as ``enhance`` would), optionally
changes inference-only settings of its config, and writes the weights in half precision::

    .venv/bin/python scripts/ship_model.py runs/default/model \\
        --set diffusion.input_consistency_sigma=8 --overwrite

Only ``diffusion.*`` keys may be changed (the sampler's settings); everything that shapes the
network or what it was trained on stays as trained. The model card is written by hand.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
DEST = ROOT / "src" / "expodiff" / "models" / "default"
MAX_BYTES = 30 * 2**20  # issue 6: at most 30 MB


def main(argv: list[str] | None = None) -> int:
    from expodiff.config import apply_overrides, config_from_dict, config_to_dict
    from expodiff.errors import ExpodiffError
    from expodiff.train.modelio import MODEL_FILE, load_denoiser, save_denoiser

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", type=Path, help="model or checkpoint folder from expodiff train")
    ap.add_argument("--dest", type=Path, default=DEST, help=f"default {DEST.relative_to(ROOT)}")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--overwrite", action="store_true", help="replace an existing model there")
    args = ap.parse_args(argv)
    try:
        denoiser, config = load_denoiser(args.model)
        for item in args.overrides:
            if not item.startswith("diffusion."):
                raise SystemExit(f"ship_model: --set {item}: only diffusion.* keys may change")
        if args.overrides:
            config = config_from_dict(apply_overrides(config_to_dict(config), args.overrides))
        save_denoiser(args.dest, denoiser, config, overwrite=args.overwrite, dtype=torch.float16)
        load_denoiser(args.dest)  # read back strictly
    except ExpodiffError as exc:
        print(f"ship_model: {exc}", file=sys.stderr)
        return 1
    size = (args.dest / MODEL_FILE).stat().st_size
    if size > MAX_BYTES:
        mb = size / 2**20
        print(f"ship_model: {args.dest / MODEL_FILE}: {mb:.1f} MB > 30 MB", file=sys.stderr)
        return 1
    print(f"shipped {args.model} -> {args.dest} ({size / 2**20:.2f} MB fp16)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
