"""Issue 11: what happens along the steps of one S-step run (SID-synth, first N images).

Per step i of an S-step run: PSNR of the step's prediction F_i, its brightness relative to the
reference (sum F_i / sum X_ref), and the same for the state X_i the network saw.

    python benchmarks/consistency_ablation/drift.py --model runs/issue11/ed/model --steps 5 \
        --images 4
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from dataclasses import replace

import torch

from expodiff.build import load_denoiser
from expodiff.config import load_config
from expodiff.diffusion.consistency import input_consistency
from expodiff.diffusion.process import ExposureProcess
from expodiff.diffusion.sampler import sample_progressive
from expodiff.eval.metrics import psnr
from expodiff.eval.protocols import protocol_pairs


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--config", default="configs/eval-sid-synth.yaml")
    p.add_argument("--model", required=True)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--images", type=int, default=4)
    p.add_argument("--consistency", type=float, default=None)
    args = p.parse_args()
    torch.set_num_threads(1)
    cfg = load_config(args.config, [])
    cfg = replace(cfg, eval=replace(cfg.eval, max_images=args.images))
    denoiser, mcfg = load_denoiser(args.model, device="cpu")
    process = ExposureProcess(mcfg.noise.full_scale_dn, mcfg.diffusion.reexposure)
    sigma = (
        args.consistency if args.consistency is not None else mcfg.diffusion.input_consistency_sigma
    )
    acc = defaultdict(list)
    pairs, _ = protocol_pairs(cfg, cfg.eval.protocol, device="cpu")
    with torch.inference_mode():
        for pair in pairs:
            g = torch.Generator().manual_seed(0)
            ref_sum = float(pair.clean.sum())
            for st in sample_progressive(
                process,
                denoiser,
                pair.noisy,
                exposure_ratio=pair.ratio,
                system_gain=pair.system_gain,
                steps=args.steps,
                generator=g,
                correct=input_consistency(sigma) if sigma else None,
            ):
                key = (pair.nominal_ratio, st.index)
                acc[key].append(
                    (
                        psnr(st.prediction[0], pair.clean[0]),
                        float(st.prediction.sum()) / ref_sum,
                        psnr(st.state[0].clamp(0, 1), pair.clean[0]),
                        float(st.state.sum()) / ref_sum,
                    )
                )
    print(f"model {args.model}, S={args.steps}, consistency {sigma}, {args.images} images/ratio")
    print("| ratio | step | PSNR F_i | brightness F_i | PSNR state X_i | brightness X_i |")
    print("|---:|---:|---:|---:|---:|---:|")
    for (ratio, i), vals in sorted(acc.items()):
        m = [sum(v[j] for v in vals) / len(vals) for j in range(4)]
        print(f"| {ratio:g} | {i + 1} | {m[0]:.2f} | {m[1]:.4f} | {m[2]:.2f} | {m[3]:.4f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
