"""The ``expodiff`` command line.

Each subcommand lives in its own module under :mod:`expodiff.cli` and exposes
``register(subparsers)``, which adds its parser and sets ``func`` to a handler taking the
parsed arguments and returning an exit code. User errors are :class:`ExpodiffError` and are
printed as one line (``--debug`` shows the traceback).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import NoReturn

from .. import __version__
from ..errors import ExpodiffError

# Subcommand modules, in the order `expodiff --help` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "enhance",
    "show_config",
    "info",
    "develop",
    "darken",
    "cache_patches",
    "models",
    "train",
    "evaluate",
    "calibrate",
    "profiles",
    "benchmark",
)


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line (the subcommands inherit it)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="expodiff",
        description="ExposureDiffusion for dark camera RAW photos.",
    )
    parser.add_argument("--version", action="version", version=f"expodiff {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="show full tracebacks instead of one-line errors"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        module.register(sub)
    # --debug also after the subcommand (`expodiff enhance ... --debug`); SUPPRESS keeps a
    # subcommand's default from resetting a --debug given before it.
    for command in sub.choices.values():
        command.add_argument(
            "--debug",
            action="store_true",
            default=argparse.SUPPRESS,
            help="show full tracebacks instead of one-line errors",
        )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``expodiff`` console script; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.func(args) or 0)
    except ExpodiffError as exc:
        if args.debug:
            raise
        print(f"expodiff: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        if args.debug:
            raise
        print("expodiff: interrupted", file=sys.stderr)
        return 130
