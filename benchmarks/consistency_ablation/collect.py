"""Issue 11: gather the ablation's per-image results into one CSV and a Markdown table.

Means are taken over the first ``--images`` images (sorted names) of every run's
per_image.csv, so runs evaluated on more images are compared on the same subset.

    python benchmarks/consistency_ablation/collect.py runs/issue11/eval docs/benchmarks/issue11 \
        --images 8
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from collections import defaultdict
from pathlib import Path

LABEL = re.compile(
    r"^(?P<variant>[\w-]+) \(S=(?P<steps>\d+)(?P<geo>, geometric)?"
    r"(?:, consistency (?P<sigma>[\d.]+))?\)$"
)


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("src")
    p.add_argument("dst")
    p.add_argument("--images", type=int, default=8)
    p.add_argument("--name", default="results")
    args = p.parse_args()
    per = defaultdict(list)  # (variant, sigma, steps, ratio) -> [(image, psnr, ssim, psnr_gt)]
    for path in sorted(Path(args.src).glob("*/per_image.csv")):
        with path.open() as f:
            for row in csv.DictReader(f):
                m = LABEL.match(row["method"])
                key = (
                    (row["method"], "", 1)
                    if m is None  # a baseline ("scaled")
                    else (
                        m["variant"] + (" geometric" if m["geo"] else ""),
                        m["sigma"] or "",
                        int(m["steps"]),
                    )
                )
                per[(*key, float(row["ratio"]))].append(
                    (row["image"], float(row["psnr"]), float(row["ssim"]), float(row["psnr_gt"]))
                )
    rows = []
    for (variant, sigma, steps, ratio), items in per.items():
        names = sorted({i[0] for i in items})[: args.images]
        chosen = [i for i in items if i[0] in names]
        n = len(chosen)
        rows.append(
            {
                "variant": variant,
                "inference_consistency": sigma,
                "steps": steps,
                "ratio": ratio,
                "images": n,
                "psnr": sum(i[1] for i in chosen) / n,
                "ssim": sum(i[2] for i in chosen) / n,
                "psnr_gt": sum(i[3] for i in chosen) / n,
            }
        )
    out = Path(args.dst)
    out.mkdir(parents=True, exist_ok=True)
    keys = list(rows[0])
    with (out / f"{args.name}.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, keys)
        w.writeheader()
        for r in rows:
            w.writerow(
                {k: (f"{v:.4f}" if k in ("psnr", "ssim", "psnr_gt") else v) for k, v in r.items()}
            )
    table = defaultdict(dict)
    for r in rows:
        table[(r["variant"], r["inference_consistency"])][(r["steps"], r["ratio"])] = r
    ratios = sorted({r["ratio"] for r in rows})
    steps = sorted({r["steps"] for r in rows})
    n_img = sorted({r["images"] for r in rows})
    lines = [
        f"PSNR (dB) x{' / x'.join(f'{q:g}' for q in ratios)}; images per ratio: {n_img}",
        "",
        "| variant | inference consistency | " + " | ".join(f"S={s}" for s in steps) + " |",
        "|---|---|" + "---:|" * len(steps),
    ]
    for (variant, sigma), cells in table.items():
        vals = []
        for s in steps:
            got = [cells.get((s, q)) for q in ratios]
            vals.append(" / ".join(f"{g['psnr']:.2f}" for g in got) if all(got) else "")
        lines.append(f"| {variant} | {sigma or '-'} | " + " | ".join(vals) + " |")
    text = "\n".join(lines) + "\n"
    (out / f"{args.name}.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
