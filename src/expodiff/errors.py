"""Exceptions that the command line turns into one clear line.

Every error a user can cause (a bad file, a bad option, a bad config) is raised as an
:class:`ExpodiffError` subclass whose message names the input and the problem. The CLI prints
``expodiff: error: <message>`` and exits non-zero; ``--debug`` shows the traceback.
Programming errors stay ordinary exceptions (ValueError for bad arguments to library
functions, per the usual Python contract).
"""

from __future__ import annotations


class ExpodiffError(Exception):
    """Base class of errors that are the user's input, not a bug."""

    exit_code = 2


class InputFileError(ExpodiffError):
    """An input file is missing, unreadable, corrupt, or of an unsupported kind."""


class OutputFileError(ExpodiffError):
    """An output cannot be written (exists, bad extension, unwritable folder)."""


class ConfigError(ExpodiffError):
    """A configuration file or override is invalid."""


class ModelError(ExpodiffError):
    """A model file is corrupt or does not match its config."""


class DataError(ExpodiffError):
    """A dataset root, split list or dataset file is missing or inconsistent."""


class NoiseModelError(ConfigError, ValueError):
    """An invalid noise-model setting (unknown preset/component, bad range)."""


def describe_os_error(exc: OSError) -> str:
    """One line naming the path(s) of a failed file-system call and what went wrong.

    Names that are not valid UTF-8 are shown with replacement characters.
    """
    import os

    reason = exc.strerror or str(exc)
    names = [n for n in (exc.filename, exc.filename2) if n is not None]
    if not names:
        return reason
    shown = " -> ".join(
        os.fsdecode(n).encode("utf-8", "replace").decode("utf-8")
        if isinstance(n, (str, bytes))
        else str(n)
        for n in names
    )
    return f"{shown}: {reason}"
