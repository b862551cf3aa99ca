"""``expodiff cache-patches``: extract training patches of a dataset into a patch cache."""

from __future__ import annotations

import argparse
import sys

from ..config import load_config
from ..kinds import Split, parse_enum
from .arguments import integer_at_least, seed
from .show_config import add_config_arguments


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "cache-patches",
        help="extract training patches of a dataset into a memory-mapped cache",
        description=(
            "Load every item of a split of the config's data section once, cut random "
            "square patches out of it and store them as memory-mapped .npy arrays. Train "
            "from the cache with --set data.cache=DIR (see docs/data.md)."
        ),
    )
    add_config_arguments(p)
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="cache folder to create")
    p.add_argument(
        "--split", default="train", choices=[s.value for s in Split], help="default: train"
    )
    p.add_argument(
        "--patch-size",
        type=integer_at_least(1),
        default=None,
        metavar="N",
        help="patch side in packed pixels (default: data.patch_size); a larger size leaves "
        "room for random crops at training time",
    )
    p.add_argument(
        "--patches-per-image", type=integer_at_least(1), default=8, metavar="N", help="default: 8"
    )
    p.add_argument(
        "--seed",
        type=seed,
        default=0,
        help="seed of the patch positions, 0 to 2**64 - 1 (default 0)",
    )
    p.add_argument(
        "--dtype",
        default="float32",
        choices=["float32", "float16"],
        help="storage type (float16 halves the size; default float32, exact)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing cache folder")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..data.augment import SampleTransform
    from ..data.cache import build_patch_cache
    from ..data.factory import build_dataset, describe

    cfg = load_config(args.config, args.overrides)
    split = parse_enum(Split, args.split)
    patch_size = args.patch_size or cfg.data.patch_size
    output = args.output.rstrip("/\\") or args.output
    # Building the dataset only lists files; build_patch_cache checks the output folder
    # before it decodes anything.
    source = build_dataset(cfg.data, split, seed=args.seed, transform=SampleTransform())

    progress = None
    if not args.quiet:
        from tqdm import tqdm

        bar = tqdm(total=len(source), unit="image", desc="cache-patches", file=sys.stderr)

        def progress(done: int, total: int) -> None:
            bar.update(done - bar.n)

    try:
        manifest = build_patch_cache(
            source,
            output,
            patch_size=patch_size,
            patches_per_image=args.patches_per_image,
            seed=args.seed,
            dtype=args.dtype,
            overwrite=args.overwrite,
            description=describe(cfg.data, split),
            progress=progress,
        )
    finally:
        if progress is not None:
            bar.close()
    size_mb = (
        manifest.count
        * manifest.channels
        * patch_size**2
        * (2 if manifest.dtype == "float16" else 4)
        * (2 if manifest.has_noisy else 1)
        / 2**20
    )
    print(
        f"wrote {manifest.count} patches of {manifest.channels}x{patch_size}x{patch_size} "
        f"({manifest.dtype}, {size_mb:.1f} MiB) from {len(source)} {split.value} items to "
        f"{output}; train from it with --set data.cache={output}"
    )
    return 0
