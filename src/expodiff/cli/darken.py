"""``expodiff darken``: simulate a dark shot of a camera from a well-exposed raw file."""

from __future__ import annotations

import argparse

from .arguments import positive_float, seed
from .info import add_input_arguments, read_input


def _ratio(text: str) -> float:
    value = positive_float(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text}")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    from ..kinds import NoisePreset

    p = sub.add_parser(
        "darken",
        help="simulate a dark shot (a noisy DNG) from a well-exposed raw file",
        description=(
            "Treat FILE as a clean long exposure and write the raw a calibrated camera would "
            "record with RATIO times less light, as a 16-bit DNG: ELD noise (shot, read, row, "
            "colour bias) of the camera profile at the given ISO or system gain, on the "
            "profile's DN scale. The DNG keeps FILE's colour metadata, names the simulated "
            "camera (so expodiff enhance finds its profile), and records the ISO and the "
            "exposure time divided by RATIO. Useful to test expodiff enhance on known ground "
            "truth."
        ),
    )
    add_input_arguments(p)
    p.add_argument("-o", "--output", required=True, metavar="OUT.dng", help="output DNG")
    p.add_argument("--ratio", type=_ratio, required=True, metavar="R", help="darken R times")
    p.add_argument(
        "--camera",
        required=True,
        metavar="PROFILE",
        help="camera noise profile: a packaged name (expodiff profiles) or a .json file",
    )
    level = p.add_mutually_exclusive_group(required=True)
    level.add_argument("--iso", type=positive_float, metavar="ISO", help="simulated ISO")
    level.add_argument(
        "--system-gain",
        type=positive_float,
        metavar="K",
        help="simulated K, DN per electron on the profile's full-scale DN",
    )
    p.add_argument(
        "--noise",
        default=NoisePreset.ELD_BIAS.value,
        choices=[m.value for m in NoisePreset],
        help="noise components (default eld+bias: shot, Tukey-lambda read, row, colour bias)",
    )
    p.add_argument("--seed", type=seed, default=0, metavar="N", help="random seed, 0 to 2**64 - 1")
    p.add_argument(
        "--crop",
        type=int,
        nargs=4,
        metavar=("X", "Y", "W", "H"),
        help="window of FILE in mosaic pixels (multiples of the CFA period)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from ..inference.darken import darken_frame
    from ..inference.gain import resolve_camera_profile
    from ..io.atomic import check_output_path
    from ..io.dng import DNG_EXTENSIONS, check_dng_size, write_frame_dng

    out = check_output_path(
        args.output, overwrite=args.overwrite, extensions=DNG_EXTENSIONS, inputs=[args.file]
    )
    profile = resolve_camera_profile(args.camera)
    frame = read_input(args)
    if args.crop is None:  # (a crop is checked once cut)
        check_dng_size(args.file, frame.height, frame.width)
    dark = darken_frame(
        frame,
        ratio=args.ratio,
        profile=profile,
        iso=args.iso,
        system_gain=args.system_gain,
        preset=args.noise,
        crop=args.crop,
        generator=torch.Generator().manual_seed(args.seed),
    )
    check_dng_size(args.file, dark.height, dark.width)
    write_frame_dng(out, dark, overwrite=args.overwrite)
    k = profile.system_gain_at_iso(dark.iso) if args.system_gain is None else args.system_gain
    print(
        f"wrote {out} ({dark.width} x {dark.height}, {dark.camera} at ISO {dark.iso:g}, "
        f"K {k:.3g} DN/e, {args.ratio:g}x darker, {args.noise} noise)"
    )
    return 0
