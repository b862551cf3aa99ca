#!/usr/bin/env python
"""Pack what a GPU training run needs into ``.gpu/a`` and ``.gpu/b`` (ignored), for the device.

The device machine gets the working tree plus at most 64 MiB of carried paths in one call,
and ``$EXPODIFF_DATA`` does not travel. ``clean/Photos`` (62 MB) and the initial model
(15.5 MB) do not fit into one call beside the tree, so the data goes in two parts that two
calls carry; what a call carries stays on the warm machine for the next one::

    .venv/bin/python scripts/gpu/pack.py            # here, once
    run(carry=[".gpu/a"], command="bash scripts/gpu/train_candidate.sh stage")
    run(carry=[".gpu/b"], command="bash scripts/gpu/train_candidate.sh train 420")

``a`` holds the initial model (``train.init_from``), ``sid_meta`` and the even-numbered
photos (sorted by name); ``b`` the odd-numbered photos and McMaster. The files are copied
unchanged, and ``train_candidate.sh`` reassembles one ``clean/Photos`` folder, so the
``Photos:train`` / ``Photos:val`` split is the same as here. CBSD68 (18 MB) and Kodak24 do
not fit: the GPU run trains on Photos:train + McMaster, and the evaluation runs here.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LIMIT_BYTES = 64 * 2**20
MARGIN_BYTES = 2 * 2**20


def tree_bytes() -> int:
    """Bytes of what travels besides the carried paths: tracked and untracked-unignored."""
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout
    paths = [ROOT / p.decode() for p in out.split(b"\0") if p]
    return sum(p.stat().st_size for p in paths if p.is_file())


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    data_default = os.environ.get("EXPODIFF_DATA", str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--data", type=Path, default=Path(data_default), help="EXPODIFF_DATA")
    ap.add_argument("--init", type=Path, default=ROOT.parent / "shared" / "models" / "unet-ed-h100")
    ap.add_argument("--out", type=Path, default=ROOT / ".gpu")
    ap.add_argument("--overwrite", action="store_true", help="replace an existing .gpu")
    args = ap.parse_args(argv)
    photos = args.data / "clean" / "Photos"
    for need in (photos, args.data / "sid_meta", args.data / "clean" / "McMaster", args.init):
        if not need.is_dir():
            print(f"pack: {need}: folder not found", file=sys.stderr)
            return 1
    if args.out.exists():
        if not args.overwrite:
            print(f"pack: {args.out} exists (--overwrite to replace it)", file=sys.stderr)
            return 1
        shutil.rmtree(args.out)
    a, b = args.out / "a", args.out / "b"
    shutil.copytree(args.init, a / "init", ignore=shutil.ignore_patterns("*.md"))
    shutil.copytree(args.data / "sid_meta", a / "sid_meta")
    shutil.copytree(args.data / "clean" / "McMaster", b / "McMaster")
    files = sorted(p for p in photos.iterdir() if p.is_file())
    for i, f in enumerate(files):
        dest = (a if i % 2 == 0 else b) / "Photos" / f.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(f, dest)
    tree = tree_bytes()
    ok = True
    for part in (a, b):
        total = tree + folder_bytes(part)
        print(
            f"{part.relative_to(ROOT)}: {folder_bytes(part) / 2**20:.1f} MiB, "
            f"with the tree {total / 2**20:.1f} MiB of {LIMIT_BYTES / 2**20:.0f}"
        )
        ok &= total + MARGIN_BYTES <= LIMIT_BYTES
    if not ok:
        print("pack: a part does not fit into one call; nothing should be carried", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
