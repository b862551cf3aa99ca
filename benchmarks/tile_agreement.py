"""Does the enhanced image depend on how the frame is cut into tiles?

A withheld photograph (``Photos:val``) is upscaled to a full 12-megapixel frame (4256 x 2848,
packed 1424 x 2128), unprocessed to a clean raw frame, darkened with calibrated Sony A7S2 noise
(ISO 3200, x100; ``darken_frame``'s default ``eld+bias`` preset, so the file carries ELD's
colour bias: a black-level error the input consistency's offset rule matters for) and enhanced
at S = 1 (one network evaluation: no random re-exposure) with the default tiling and with
``tile=0`` (one evaluation of the whole frame). Prints the largest and the mean absolute
difference of the two results in raw_norm and their PSNR against the clean frame, per model. A
network whose receptive field fits inside the tiles' margins gives the same result both ways up
to float rounding; NAFNet's global channel attention does not.

    .venv/bin/python benchmarks/tile_agreement.py --model default \\
        --model local=training/default-local/model
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

FRAME = (4256, 2848)  # mosaic pixels of a 12.1 MP frame (Sony A7S II)


def dark_frame(image: str | None, ratio: float, iso: int, seed: int):
    """``(photo name, clean packed raw_norm, dark RawFrame)``: a 12 MP frame of a val photo."""
    import numpy as np
    import torch
    from PIL import Image

    from expodiff.eval.heldout import photo_parts, photos_dir, unprocessed_frame
    from expodiff.inference.darken import darken_frame
    from expodiff.inference.gain import resolve_camera_profile

    val = [n for n, part in photo_parts(photos_dir()).items() if part == "val"]
    name = next(n for n in val if image is None or n == image)
    with Image.open(photos_dir() / name) as im:
        rgb = np.asarray(im.convert("RGB").resize(FRAME, Image.Resampling.BICUBIC))
    srgb = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).float() / 255.0
    profile = resolve_camera_profile("SonyA7S2")
    clean = unprocessed_frame(
        srgb, profile, colour_matrix=np.eye(3), white_balance=(2.0, 1.0, 1.6, 1.0), iso=100.0,
        model="tile test",
    )  # fmt: skip
    dark = darken_frame(
        clean, ratio=ratio, profile=profile, iso=iso, generator=torch.Generator().manual_seed(seed)
    )
    return name, clean.packed_norm().clamp(0, 1), dark


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", action="append", default=[], metavar="NAME[=PATH]")
    p.add_argument("--image", default=None, help="a Photos:val file name (default: the first)")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    import torch

    import expodiff
    from expodiff.eval.metrics import psnr

    torch.set_num_threads(args.threads)
    name, clean, dark = dark_frame(args.image, ratio=100.0, iso=3200, seed=0)
    print(f"{name} upscaled to {FRAME[0]} x {FRAME[1]}, Sony A7S2 ISO 3200 x100, S = 1")
    for spec in args.model or ["default"]:
        label, _, path = spec.partition("=")
        model = path or label
        out = {}
        for tile in (None, 0):  # the model's default tile side, and never tiled
            t0 = time.perf_counter()
            res = expodiff.enhance(dark, model=model, ratio=100.0, steps=1, seed=0, tile=tile)
            out[tile] = (res.raw_norm, time.perf_counter() - t0)
        diff = (out[None][0] - out[0][0]).abs()
        views = f"{res.views} view{'s' if res.views > 1 else ''}"
        print(
            f"{label} ({views}): max |tiled - untiled| {diff.max():.2e}, mean {diff.mean():.2e} "
            f"(raw_norm); PSNR tiled {psnr(out[None][0], clean):.2f} dB, untiled "
            f"{psnr(out[0][0], clean):.2f} dB; {out[None][1]:.1f} s tiled, "
            f"{out[0][1]:.1f} s untiled"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
