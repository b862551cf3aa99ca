"""Shared helpers of the training tests: tiny configs of every family, tiny clean images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from expodiff.config import load_config

CONFIGS = Path(__file__).resolve().parents[1] / "configs"

# Tiny sizes for every family: a 2-level U-Net of width 4, one-block NAFNets of width 4.
SHRINK = {
    "unet": ["model.preset=unet-slim", "model.width=4", "model.depth=2"],
    "nafnet1": ["model.width=4"],
    "nafnet2": [
        "model.width=4",
        "model.enc_blocks=[1]",
        "model.middle_blocks=1",
        "model.dec_blocks=[1]",
    ],
}


def make_images(root: Path) -> Path:
    """Three small clean sRGB images in ``root/set`` (an unprocess set)."""
    (root / "set").mkdir(parents=True)
    g = np.random.default_rng(0)
    for i in range(3):
        a = np.kron(g.random((6, 6, 3)), np.ones((8, 8, 1))) * 255
        Image.fromarray(a.astype(np.uint8)).save(root / "set" / f"img{i}.png")
    return root


def tiny_sets(name: str, out: Path, images: Path | None = None, sid=None) -> list[str]:
    """``--set`` overrides shrinking config ``name`` to a seconds-long CPU run into ``out``."""
    backbone = name.split("-")[1]
    if sid is not None:
        data = [
            f"data.root={sid.root}",
            f"data.sid_lists={sid.ratio_list}",
            "data.patch_size=8",
            "data.val_crop=8",
        ]
    else:
        data = [
            f"data.root={images}",
            "data.train_sets=[set]",
            "data.val_sets=[set]",
            "data.patch_size=16",
            "data.val_crop=16",
        ]
    sets = [
        *SHRINK[backbone],
        *data,
        "data.batch_size=2",
        "data.num_workers=0",
        "train.iterations=4",
        f"train.output_dir={out}",
        "train.log_every=2",
        "train.val_every=0",
        "train.checkpoint_every=0",
        "train.val_max_images=1",
        "train.progress=false",
        "train.tensorboard=false",
        "data.val_ratios=[100]",
    ]
    return sets


def tiny(name: str, out: Path, images: Path | None = None, *extra: str, sid=None):
    """The config ``configs/<name>.yaml`` shrunk by :func:`tiny_sets`, plus ``extra`` sets."""
    return load_config(CONFIGS / f"{name}.yaml", [*tiny_sets(name, out, images, sid), *extra])
