"""``expodiff develop``: run the ISP on a raw file and write PNG/TIFF, or re-write it as DNG."""

from __future__ import annotations

import argparse
from dataclasses import replace

from ..errors import InputFileError, OutputFileError
from ..kinds import DemosaicMethod
from .arguments import enum_argument, positive_float
from .info import add_input_arguments, read_input


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "develop",
        help="develop a raw file to an sRGB PNG/TIFF (or re-write it as a DNG)",
        description=(
            "Develop a raw file with expodiff's ISP (exposure gain, white balance, demosaic, "
            "colour matrix, sRGB curve; rotated as the camera recorded) and write .png "
            "(8 or 16-bit) or .tif/.tiff (8 or 16-bit). With a .dng output the raw mosaic "
            "itself is written as a 16-bit DNG with the source's CFA, levels, white balance, "
            "colour matrix, ISO and exposure time (--exposure-gain scales the raw values)."
        ),
    )
    add_input_arguments(p)
    p.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="OUT",
        help="output file: .png, .tif, .tiff or .dng",
    )
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    p.add_argument(
        "--bits",
        type=int,
        choices=(8, 16),
        default=None,
        help="bits per sample of a PNG/TIFF (default: 8 for PNG, 16 for TIFF)",
    )
    p.add_argument(
        "--exposure-gain",
        type=positive_float,
        default=1.0,
        metavar="G",
        help="multiply the linear raw signal by G before clipping (default 1)",
    )
    p.add_argument(
        "--demosaic",
        type=enum_argument(DemosaicMethod),
        default=None,
        metavar="{" + ",".join(m.value for m in DemosaicMethod) + "}",
        help="demosaic algorithm (default: malvar for Bayer, bilinear for X-Trans and for "
        "mosaics under 4 x 4)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from ..io.atomic import check_output_path
    from ..io.dng import check_dng_size
    from ..io.isp import MALVAR_MIN_SIDE, default_demosaic, develop, orient
    from ..io.metadata import photo_metadata
    from ..io.writers import (
        DNG_EXTENSIONS,
        OUTPUT_EXTENSIONS,
        crop_for_display,
        default_bits,
        write_frame_dng,
        write_image,
    )

    # Validate the output before decoding anything.
    out = check_output_path(
        args.output, overwrite=args.overwrite, extensions=OUTPUT_EXTENSIONS, inputs=[args.file]
    )
    is_dng = out.suffix.lower() in DNG_EXTENSIONS
    if is_dng and args.bits is not None:
        raise OutputFileError(f"{out}: --bits is for PNG/TIFF; a DNG is written with 16 bits")
    frame = read_input(args)

    if is_dng:
        check_dng_size(args.file, frame.height, frame.width)
        if args.exposure_gain != 1.0:
            sensor = frame.sensor
            mosaic = torch.from_numpy(frame.mosaic.astype(np.float32))
            brighter = sensor.normalize_mosaic(mosaic) * args.exposure_gain
            mosaic = sensor.denormalize_mosaic(brighter).clamp(0, sensor.white_level)
            frame = replace(frame, mosaic=mosaic.numpy())  # float32; write_dng rounds
        write_frame_dng(out, frame, overwrite=args.overwrite)
        print(f"wrote {out} ({frame.width} x {frame.height} {frame.cfa.value} raw, 16-bit DNG)")
        return 0

    method = args.demosaic or default_demosaic(frame.cfa, (frame.height, frame.width))
    if method is DemosaicMethod.MALVAR and min(frame.height, frame.width) < MALVAR_MIN_SIDE:
        raise InputFileError(
            f"{args.file}: a {frame.width} x {frame.height} mosaic is too small for the Malvar "
            f"demosaic (at least {MALVAR_MIN_SIDE} x {MALVAR_MIN_SIDE}); use --demosaic bilinear"
        )
    srgb = develop(
        frame.packed_norm(),
        frame.cfa,
        frame.white_balance,
        frame.colour_matrix,
        exposure_gain=args.exposure_gain,
        demosaic=method,
    )
    metadata = photo_metadata(frame)  # the source's EXIF and default crop
    srgb = crop_for_display(orient(srgb, frame.orientation), metadata)
    bits = args.bits or default_bits(out)
    write_image(out, srgb, bits=bits, overwrite=args.overwrite, metadata=metadata)
    kind = "PNG" if out.suffix.lower() == ".png" else "TIFF"
    height, width = srgb.shape[:2]
    print(f"wrote {out} ({width} x {height} sRGB, {bits}-bit {kind})")
    return 0
