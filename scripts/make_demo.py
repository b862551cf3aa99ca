#!/usr/bin/env python
"""The bundled demo: a dark raw sample, and the before / after / reference figure of the README.

The sample is a real photograph made dark with the calibrated noise model: a 1024 x 704 crop
of the Canon EOS D30's 5 s ISO 100 exposure (``$EXPODIFF_DATA/raw/Canon_EOS_D30.CRW``, a
Christmas tree), 100 times darker with the Sony A7S2's ELD noise at ISO 6400 (K = 6.0 DN/e)::

    expodiff darken $EXPODIFF_DATA/raw/Canon_EOS_D30.CRW -o examples/canon_d30_x100_iso6400.dng \\
        --ratio 100 --camera SonyA7S2 --iso 6400 --crop 1152 160 1024 704 --seed 0

Usage::

    .venv/bin/python scripts/make_demo.py --sample   # re-make the sample and the reference
    .venv/bin/python scripts/make_demo.py [--model PATH]   # docs/images/demo.png

The figure shows, side by side at half size: the dark sample brightened 100x by the plain ISP
("before"), ``expodiff enhance --ratio 100`` with the packaged default model (or ``--model``),
and the clean crop of the original exposure (the reference, also in
``examples/canon_d30_reference.png``), with the raw PSNR of before and after against it.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "examples" / "canon_d30_x100_iso6400.dng"
REFERENCE_PNG = ROOT / "examples" / "canon_d30_reference.png"
FIGURE = ROOT / "docs" / "images" / "demo.png"
SOURCE = "raw/Canon_EOS_D30.CRW"
CROP = (1152, 160, 1024, 704)  # x, y, width, height in mosaic pixels
RATIO = 100
CAMERA, ISO, SEED = "SonyA7S2", 6400, 0
PANEL_SCALE = 2  # panels are shown at 1 / PANEL_SCALE of the sample's size
LABEL_HEIGHT = 30


def source_path() -> Path:
    from expodiff.paths import data_root

    path = data_root() / SOURCE
    if not path.is_file():
        sys.exit(f"make_demo: {path} not found (set EXPODIFF_DATA)")
    return path


def reference_frame():
    from expodiff.inference.darken import crop_frame
    from expodiff.io.rawio import read_raw

    return crop_frame(read_raw(source_path()), CROP)


def develop_frame(packed_norm, frame):
    from expodiff.inference.render import develop_in_strips

    return develop_in_strips(
        packed_norm,
        frame.cfa,
        frame.white_balance,
        frame.colour_matrix,
        orientation=frame.orientation,
    )


def make_sample() -> None:
    from expodiff.io.writers import write_image

    command = [
        sys.executable, "-m", "expodiff", "darken", str(source_path()), "-o", str(SAMPLE),
        "--ratio", str(RATIO), "--camera", CAMERA, "--iso", str(ISO),
        "--crop", *map(str, CROP), "--seed", str(SEED), "--overwrite",
    ]  # fmt: skip
    print("$", " ".join(command[1:]))
    subprocess.run(command, check=True)
    frame = reference_frame()
    write_image(
        REFERENCE_PNG, develop_frame(frame.packed_norm().clamp(0, 1), frame), overwrite=True
    )
    print(f"wrote {REFERENCE_PNG}")


def make_figure(model: str | None) -> None:
    from PIL import Image, ImageDraw, ImageFont

    from expodiff.eval.metrics import psnr
    from expodiff.inference.api import enhance
    from expodiff.io.rawio import read_raw

    dark = read_raw(SAMPLE)
    reference = reference_frame()
    clean = reference.packed_norm().clamp(0, 1)
    scaled = (dark.packed_norm() * RATIO).clamp(0, 1)
    result = enhance(SAMPLE, ratio=RATIO, model=model, seed=0, srgb=True)
    print(f"{SAMPLE.name}: {result.summary()} (model {result.model_name})")
    before, after = psnr(scaled, clean), psnr(result.raw_norm, clean)
    panels = [
        (f"before: x{RATIO} through the ISP ({before:.1f} dB)", develop_frame(scaled, dark)),
        (f"after: expodiff enhance ({after:.1f} dB)", result.srgb),
        ("reference: the 5 s exposure", develop_frame(clean, reference)),
    ]
    h, w = panels[0][1].shape[:2]
    pw, ph = w // PANEL_SCALE, h // PANEL_SCALE
    figure = Image.new("RGB", (3 * pw, ph + LABEL_HEIGHT), (255, 255, 255))
    draw = ImageDraw.Draw(figure)
    try:
        font = ImageFont.load_default(size=18)
    except TypeError:  # Pillow < 10.1: the fixed bitmap font
        font = ImageFont.load_default()
    for i, (label, image) in enumerate(panels):
        pixels = np.rint(np.clip(image, 0, 1) * 255).astype(np.uint8)
        panel = Image.fromarray(pixels).resize((pw, ph), Image.Resampling.LANCZOS)
        figure.paste(panel, (i * pw, LABEL_HEIGHT))
        draw.text((i * pw + 8, 5), label, fill=(0, 0, 0), font=font)
    FIGURE.parent.mkdir(parents=True, exist_ok=True)
    figure.save(FIGURE, optimize=True)
    print(f"wrote {FIGURE} ({figure.width} x {figure.height})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sample", action="store_true", help="re-make the sample and reference")
    parser.add_argument("--model", default=None, help="model folder (default: the packaged one)")
    args = parser.parse_args()
    if args.sample:
        make_sample()
    else:
        make_figure(args.model)


if __name__ == "__main__":
    main()
