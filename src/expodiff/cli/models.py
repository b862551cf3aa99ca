"""``expodiff models``: list the model presets with their size and cost."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "models",
        help="list the model presets with parameter counts and FLOPs",
        description=(
            "List the model presets (with photon conditioning and the adaptive residual layer, "
            "on a 4-channel Bayer raw) with their parameter counts and forward cost per "
            "megapixel of the raw mosaic."
        ),
    )
    p.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    p.set_defaults(func=run)


def model_table() -> list[dict]:
    """One dict per preset: name, description, params, params_paper_convention, paper_params,
    gflops_per_mp (FLOPs = 2 MACs, per mosaic megapixel, conv/linear layers)."""
    from ..build import build_denoiser
    from ..config import ModelConfig
    from ..nets.flops import ParameterConvention, count_parameters, macs_per_megapixel
    from ..nets.registry import PRESETS

    rows = []
    for name, preset in PRESETS.items():
        model = build_denoiser(ModelConfig(preset=name))
        rows.append(
            {
                "name": name,
                "architecture": preset.summary(),
                "description": preset.description,
                "params": count_parameters(model),
                "params_paper_convention": count_parameters(model, ParameterConvention.PAPER),
                "paper_params": preset.paper_params,
                "gflops_per_mp": round(2 * macs_per_megapixel(model) / 1e9, 3),
            }
        )
    return rows


def _human(n: int | None) -> str:
    if n is None:
        return "-"
    if n >= 1e6:
        return f"{n / 1e6:.2f} M"
    if n >= 1e3:
        return f"{n / 1e3:.1f} K"
    return str(n)


def run(args: argparse.Namespace) -> int:
    rows = model_table()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    header = ("name", "params", "thop-style", "paper", "GFLOP/MP", "architecture")
    table = [
        (
            r["name"],
            f"{r['params']:,}",
            f"{r['params_paper_convention']:,}",
            _human(r["paper_params"]),
            f"{r['gflops_per_mp']:.2f}",
            r["architecture"],
        )
        for r in rows
    ]
    widths = [max(len(h), *(len(t[i]) for t in table)) for i, h in enumerate(header)]
    for line in (header, *table):
        cells = [
            c.ljust(w) if i in (0, 5) else c.rjust(w)
            for i, (c, w) in enumerate(zip(line, widths, strict=True))
        ]
        print("  ".join(cells).rstrip())
    print(
        "\nparams: all trainable parameters; thop-style: conv/linear layers only, the convention "
        "of the paper's counts.\nGFLOP/MP: forward FLOPs (2 x MACs of conv/linear layers) per "
        "megapixel of the raw mosaic, one network evaluation."
    )
    return 0
