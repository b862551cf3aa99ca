"""The ``expodiff`` command line.

Each subcommand lives in its own module under :mod:`expodiff.cli` and exposes
``register(subparsers)``, which adds its parser and sets ``func`` to a handler taking the
parsed arguments and returning an exit code. User errors are :class:`ExpodiffError` and are
printed as one line (``--debug`` shows the traceback). SIGTERM (``kill``, a job scheduler, a
closing terminal's session) ends a command as Ctrl-C does: it is raised as
:class:`Terminated`, a ``KeyboardInterrupt``, so every temporary file is removed on the way
out; the exit status is 143 (128 + 15) instead of 130.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from typing import NoReturn

from .. import __version__
from ..errors import ExpodiffError, describe_os_error
from .streams import GuardedStdout, fill_closed_standard_descriptors, stdout_failure_message

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
)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the program is, so it cleans up exactly as on Ctrl-C."""


def _raise_terminated(signum: int, frame) -> None:  # noqa: ARG001
    raise Terminated


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM raises :class:`Terminated` inside the block (main thread only: Python runs
    signal handlers there); the previous handler is restored after it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


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
    """Entry point of the ``expodiff`` console script; returns the exit code.

    Standard output is a :class:`~expodiff.cli.streams.GuardedStdout` while the command runs:
    a reader that went away ends the printing quietly, any other failed write to it is one
    error line at the end and a non-zero exit, and neither stops the command's work.
    """
    if argv is None:
        argv = sys.argv[1:]
        fill_closed_standard_descriptors()
    stdout = GuardedStdout(sys.stdout)
    real_stdout, sys.stdout = sys.stdout, stdout
    exit_request: SystemExit | None = None
    try:
        try:
            code = _run(list(argv))
        except SystemExit as exc:  # --help, --version and usage errors
            exit_request = exc
            code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
        stdout.flush()
    finally:
        sys.stdout = real_stdout
    if stdout.failure is not None and not stdout.broken_pipe:
        print(f"expodiff: error: {stdout_failure_message(stdout.failure)}", file=sys.stderr)
        code = code or 2
    if exit_request is not None:
        raise SystemExit(code)
    return code


def _run(argv: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        with _sigterm_as_interrupt():
            return int(args.func(args) or 0)
    except ExpodiffError as exc:
        if args.debug:
            raise
        print(f"expodiff: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:
        # The file system said no (a name too long, no permission, a full disk, a folder
        # where a file was expected): the user's environment, not a bug.
        if args.debug:
            raise
        print(f"expodiff: error: {describe_os_error(exc)}", file=sys.stderr)
        return ExpodiffError.exit_code
    except KeyboardInterrupt as exc:
        if args.debug:
            raise
        if isinstance(exc, Terminated):
            print("expodiff: terminated", file=sys.stderr)
            return 143
        print("expodiff: interrupted", file=sys.stderr)
        return 130
