"""Issue 11: evaluate trained models on SID-synth at several step counts in one process.

The same pairs (synthesised once) and the same per-(pair, ratio) sampler seeds as
``expodiff evaluate``, for every (model, S, consistency) combination; writes summary.csv,
per_image.csv and report.md into --out (expodiff.eval.report.write_report).

    python benchmarks/consistency_ablation/eval_steps.py --model ed=runs/issue11/ed/model \
        --steps 1 2 3 4 5 --consistency 8 --out runs/issue11/eval/ed
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, replace

import torch

from expodiff.build import load_denoiser
from expodiff.config import load_config
from expodiff.diffusion.consistency import input_consistency
from expodiff.diffusion.process import ExposureProcess
from expodiff.diffusion.sampler import sample
from expodiff.eval.methods import ModelMethod
from expodiff.eval.protocols import evaluate_pairs, protocol_pairs
from expodiff.eval.report import markdown_report, summarise, write_report


def geometric_schedule(ratio: float, steps: int) -> torch.Tensor:
    """``c_i = r^(i / S)``: equal steps in log exposure, ``(1, S + 1)``, endpoints exact."""
    t = torch.linspace(0.0, 1.0, steps + 1, dtype=torch.float64)
    sched = (ratio**t).float().unsqueeze(0)
    sched[0, 0], sched[0, -1] = 1.0, ratio
    return sched


@dataclass
class GeometricMethod:
    """A model sampled on the geometric schedule instead of ``linspace(1, r, S + 1)``."""

    name: str
    denoiser: object
    process: ExposureProcess
    steps: int
    input_consistency_sigma: float | None = None

    def __call__(self, pair, generator):
        return sample(
            self.process,
            self.denoiser,
            pair.noisy,
            exposure_ratio=pair.ratio,
            system_gain=pair.system_gain,
            steps=self.steps,
            generator=generator,
            schedule=geometric_schedule(float(pair.ratio), self.steps).to(pair.noisy.device),
            correct=input_consistency(self.input_consistency_sigma)
            if self.input_consistency_sigma
            else None,
        ).float()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default="configs/eval-sid-synth.yaml")
    p.add_argument("--model", action="append", required=True, help="NAME=PATH")
    p.add_argument("--steps", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    p.add_argument(
        "--consistency",
        type=float,
        default=None,
        help="also run every model with this input-consistency sigma",
    )
    p.add_argument("--max-images", type=int, default=None)
    p.add_argument(
        "--schedule",
        choices=("linear", "geometric"),
        default="linear",
        help="inference multiples: linspace(1, r, S + 1) (the sampler's) or r^(i/S)",
    )
    p.add_argument("--out", required=True)
    args = p.parse_args()
    torch.set_num_threads(1)
    cfg = load_config(args.config, [])
    if args.max_images is not None:
        cfg = replace(cfg, eval=replace(cfg.eval, max_images=args.max_images))
    methods = []
    for spec in args.model:
        name, path = spec.split("=", 1)
        denoiser, mcfg = load_denoiser(path, device="cpu")
        process = ExposureProcess(mcfg.noise.full_scale_dn, mcfg.diffusion.reexposure)
        own = mcfg.diffusion.input_consistency_sigma
        sigmas = [own] + ([args.consistency] if args.consistency not in (None, own) else [])
        for sigma in sigmas:
            for s in args.steps:
                geo = args.schedule == "geometric"
                label = f"{name} (S={s}" + (", geometric" if geo else "")
                label += f", consistency {sigma:g})" if sigma else ")"
                if geo:
                    methods.append(GeometricMethod(label, denoiser, process, s, sigma))
                    continue
                methods.append(
                    ModelMethod(
                        label,
                        denoiser,
                        process,
                        steps=s,
                        tile=cfg.eval.tile,
                        overlap=cfg.eval.tile_overlap,
                        input_consistency_sigma=sigma,
                    )
                )
    pairs, notes = protocol_pairs(cfg, cfg.eval.protocol, device="cpu")
    with torch.inference_mode():
        results = evaluate_pairs(pairs, methods, seed=cfg.eval.seed)
    title = f"issue 11: {cfg.eval.protocol.value}, S = {args.steps}"
    write_report(args.out, results, title=title, notes=notes)
    print(markdown_report(summarise(results), title=title, notes=notes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
