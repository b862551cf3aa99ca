"""Value parsers shared by the subcommands' options (``type=`` of ``add_argument``).

Each turns the text of one option into its value or raises ``argparse.ArgumentTypeError``
with the problem, which argparse prints as a one-line usage error.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from enum import Enum
from typing import TypeVar

from ..cfa import CFAPattern
from ..defaults import MAX_SEED
from ..inference.limits import MAX_RATIO, MIN_RATIO
from ..kinds import parse_enum

E = TypeVar("E", bound=Enum)

__all__ = [
    "positive_float",
    "non_negative_float",
    "integer_at_least",
    "seed",
    "views_choice",
    "enum_argument",
    "cfa_pattern",
    "exposure_ratio",
    "output_format",
]


def positive_float(text: str) -> float:
    """A finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def non_negative_float(text: str) -> float:
    """A finite number >= 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (value >= 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def integer_at_least(
    minimum: int, maximum: int | None = None, why: str = ""
) -> Callable[[str], int]:
    """A parser of integers >= ``minimum`` (and <= ``maximum`` when given; ``why`` says why
    in the message of a value above it)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        if maximum is not None and value > maximum:
            reason = f" ({why})" if why else ""
            raise argparse.ArgumentTypeError(f"must be <= {maximum}{reason}, got {value}")
        return value

    return parse


def views_choice(text: str) -> int:
    """A number of dihedral views: 1, 2, 4 or 8 (:mod:`expodiff.nets.views`)."""
    from ..nets.views import ALLOWED_VIEWS

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value not in ALLOWED_VIEWS:
        raise argparse.ArgumentTypeError(
            f"must be 1, 2, 4 or 8 (symmetric sets of flips and transposes), got {value}"
        )
    return value


def seed(text: str) -> int:
    """A random seed: an integer from 0 to ``MAX_SEED`` (64 bits)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(
            f"must be an integer from 0 to 2**64 - 1 = {MAX_SEED} (a 64-bit seed), got {text}"
        )
    return value


def enum_argument(kind: type[E]) -> Callable[[str], E]:
    """A parser of the members of ``kind`` by name (:func:`expodiff.kinds.parse_enum`)."""

    def parse(text: str) -> E:
        try:
            return parse_enum(kind, text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = kind.__name__  # argparse names the type in some messages
    return parse


# A CFA layout name: RGGB, BGGR, GRBG, GBRG, XTRANS.
cfa_pattern = enum_argument(CFAPattern)


def exposure_ratio(text: str) -> str | float:
    """``auto`` or an exposure ratio from ``MIN_RATIO`` to ``MAX_RATIO``."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be 'auto' or a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(
            f"must be a finite number from {MIN_RATIO:g} to {MAX_RATIO:g}, got {text}"
        )
    if not value >= MIN_RATIO:
        raise argparse.ArgumentTypeError(
            f"must be >= {MIN_RATIO:g} (expodiff brightens, it does not darken), got {text}"
        )
    if value > MAX_RATIO:
        raise argparse.ArgumentTypeError(
            f"must be <= {MAX_RATIO:g} (beyond it a single DN above black is amplified to "
            f"white), got {text}"
        )
    return value


def output_format(text: str):
    """An output format name (png, png16, tiff, dng, ...)."""
    from ..errors import OutputFileError
    from ..inference.pipeline import OutputFormat

    try:
        return OutputFormat.parse(text)
    except OutputFileError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
