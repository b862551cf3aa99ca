"""``expodiff info``: what a raw file holds (camera, CFA, levels, ISO, exposure, size).

Also home of the input options every raw-reading command shares (:func:`add_input_arguments`,
:func:`read_input`): a raw file, or with ``--cfa`` a mosaic stored as a plain 16-bit image.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from ..cfa import CFAPattern
from .arguments import cfa_pattern

if TYPE_CHECKING:
    from ..sensor import SensorSpec

_ORIENTATION_NAMES = {
    1: "normal",
    2: "mirrored",
    3: "rotated 180",
    4: "flipped vertically",
    5: "transposed",
    6: "rotate 90 CW to view",
    7: "transversed",
    8: "rotate 90 CCW to view",
}


def add_input_arguments(parser: argparse.ArgumentParser) -> None:
    """``FILE`` plus the options that read a mosaic stored as a plain image."""
    parser.add_argument("file", metavar="FILE", help="camera raw file (any LibRaw format)")
    group = parser.add_argument_group(
        "mosaic stored as a plain image",
        "read FILE (a single-channel PNG/TIFF/PGM) as a raw mosaic instead of a raw file",
    )
    group.add_argument(
        "--cfa",
        type=cfa_pattern,
        metavar="PATTERN",
        help="its CFA layout: RGGB, BGGR, GRBG, GBRG or XTRANS (selects this reader)",
    )
    group.add_argument(
        "--black-level",
        type=float,
        nargs="+",
        metavar="DN",
        help="black level: one value, or four (R Gr B Gb); default 0",
    )
    group.add_argument(
        "--white-level",
        type=float,
        metavar="DN",
        help="white level; default the largest value of the image's bit depth",
    )


def read_input(args: argparse.Namespace):
    """Read ``args.file`` as :func:`~expodiff.io.rawio.read_raw` does; metadata warnings
    (a missing colour matrix, say) are printed as ``expodiff: warning: ...`` lines."""
    from ..errors import ExpodiffError
    from ..io.rawio import read_raw

    if args.cfa is None and (args.black_level is not None or args.white_level is not None):
        raise ExpodiffError("--black-level and --white-level need --cfa (a stored mosaic)")
    black = args.black_level
    if black is not None and len(black) not in (1, 4):
        raise ExpodiffError(f"--black-level takes 1 or 4 values, got {len(black)}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frame = read_raw(
            args.file,
            cfa=args.cfa,
            black_level=None if black is None else (black[0] if len(black) == 1 else black),
            white_level=args.white_level,
        )
    for warning in caught:
        print(f"expodiff: warning: {warning.message}", file=sys.stderr)
    return frame


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "info",
        help="show what a raw file holds: camera, CFA, levels, ISO, exposure, size",
        description=(
            "Print the camera, CFA pattern, black/white levels, white balance, ISO, exposure "
            "time and size of a raw file. Sizes are those of the visible mosaic, cropped to "
            "whole CFA periods (what expodiff processes)."
        ),
    )
    add_input_arguments(p)
    p.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object: make, model, cfa, black_level (4, R Gr B Gb), "
        "white_level, iso, exposure_time (seconds, a number), width, height",
    )
    p.set_defaults(func=run)


def _number(value: float | None):
    if value is None:
        return None
    return int(value) if float(value).is_integer() else float(value)


def frame_summary(frame) -> dict:
    """The ``--json`` object of a :class:`~expodiff.io.rawio.RawFrame`."""
    sensor: SensorSpec = frame.sensor
    return {
        "make": frame.make,
        "model": frame.model,
        "cfa": frame.cfa.value,
        "black_level": [_number(b) for b in sensor.black_level],
        "white_level": _number(sensor.white_level),
        "iso": _number(frame.iso),
        "exposure_time": None if frame.exposure_time is None else float(frame.exposure_time),
        "width": frame.width,
        "height": frame.height,
    }


def _text(frame, path: Path) -> str:
    from ..cfa import packed_channels
    from ..io.rawio import format_exposure_time

    s = frame_summary(frame)
    levels = " ".join(str(b) for b in s["black_level"])
    wb = " ".join(f"{g:.4g}" for g in frame.white_balance)
    step = 3 if frame.cfa is CFAPattern.XTRANS else 2
    rows = [
        ("file", str(path)),
        ("camera", frame.camera or "unknown"),
        ("CFA", s["cfa"]),
        ("black level", f"{levels} (R Gr B Gb)"),
        ("white level", str(s["white_level"])),
        ("white balance", f"{wb} (R Gr B Gb)"),
        ("ISO", "unknown" if s["iso"] is None else str(s["iso"])),
        ("exposure time", format_exposure_time(frame.exposure_time)),
        ("size", f"{frame.width} x {frame.height} (visible mosaic, width x height)"),
        (
            "packed",
            f"{packed_channels(frame.cfa)} x {frame.height // step} x {frame.width // step} "
            "(channels x height x width)",
        ),
        ("orientation", f"{frame.orientation} ({_ORIENTATION_NAMES[frame.orientation]})"),
    ]
    return "\n".join(f"{name + ':':<15}{value}" for name, value in rows)


def run(args: argparse.Namespace) -> int:
    frame = read_input(args)
    if args.json:
        print(json.dumps(frame_summary(frame)))
    else:
        print(_text(frame, Path(args.file)))
    return 0
