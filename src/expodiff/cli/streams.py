"""Standard output that a closed reader, a closed descriptor or a full disk cannot crash.

What ``expodiff`` prints on standard output is a report of the work (summaries, tables); the
work itself goes to files. So a failed write to standard output must not stop the work half
way (a folder run would otherwise abort after its first file), and must not end in a
traceback. :class:`GuardedStdout` replaces ``sys.stdout`` while a command runs:

* the first failed write stops all further writes (nothing is buffered for later) and is
  remembered in :attr:`GuardedStdout.failure`; the command carries on;
* ``EPIPE`` (the reader went away: ``expodiff info --json FILE | head -c 10``) ends quietly,
  as the standard tools do; any other failure (a closed descriptor ``>&-``, ``ENOSPC`` of
  ``>/dev/full``) is reported by the caller in one line and the exit status is non-zero;
* text the terminal's encoding cannot show (file names that are not valid UTF-8, non-ASCII
  names under an ASCII locale) is written with replacement characters instead of failing.

:class:`StderrHandler` is the logging handler of the commands' progress lines: it writes to
``sys.stderr`` as it is at each record, so a handler made by one command in a process does not
keep writing to that command's stream (``main`` may run many commands in one process).

:func:`fill_closed_standard_descriptors` opens ``/dev/null`` on descriptors 0-2 that the
process was started without, so that no file the command opens lands on descriptor 1 and
receives what is printed.
"""

from __future__ import annotations

import errno
import io
import logging
import os
import sys
from typing import TextIO

__all__ = [
    "GuardedStdout",
    "StderrHandler",
    "fill_closed_standard_descriptors",
    "stdout_failure_message",
]


def fill_closed_standard_descriptors() -> bool:
    """Open ``/dev/null`` on each of descriptors 0, 1, 2 that is closed; True when 1 was."""
    stdout_closed = False
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            opened = os.open(os.devnull, os.O_RDWR)
            if opened != fd:  # a lower descriptor was closed too and took it: move it
                os.dup2(opened, fd)
                os.close(opened)
            stdout_closed = stdout_closed or fd == 1
    return stdout_closed


class GuardedStdout(io.TextIOBase):
    """A text stream writing to ``stream`` until the first failure, then to nowhere.

    Args:
        stream: the real standard output; None when the process has none (a closed
            descriptor), which counts as a failure at the first write.
    """

    def __init__(self, stream: TextIO | None) -> None:
        super().__init__()
        self._stream = stream
        self.failure: OSError | None = None

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._stream, "encoding", None) or "utf-8"

    @property
    def errors(self) -> str:  # type: ignore[override]
        return "replace"

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        if self._stream is None or self.failure is not None:
            return False
        try:
            return self._stream.isatty()
        except (OSError, ValueError):
            return False

    def fileno(self) -> int:
        if self._stream is None:
            raise io.UnsupportedOperation("standard output is closed")
        return self._stream.fileno()

    def write(self, text: str) -> int:
        if self.failure is not None:
            return len(text)
        if self._stream is None:
            self._fail(OSError(errno.EBADF, "standard output is closed"))
            return len(text)
        try:
            try:
                self._stream.write(text)
            except UnicodeEncodeError:
                encoding = self.encoding
                self._stream.write(text.encode(encoding, "replace").decode(encoding))
        except (OSError, ValueError) as exc:  # ValueError: the stream was closed
            self._fail(exc if isinstance(exc, OSError) else OSError(errno.EBADF, str(exc)))
        return len(text)

    def flush(self) -> None:
        if self.failure is not None or self._stream is None:
            return
        try:
            self._stream.flush()
        except (OSError, ValueError) as exc:
            self._fail(exc if isinstance(exc, OSError) else OSError(errno.EBADF, str(exc)))

    def _fail(self, exc: OSError) -> None:
        self.failure = exc
        # The real stream still buffers what could not be written, and Python flushes it at
        # exit: point its descriptor at /dev/null so that flush cannot fail (and print
        # "Exception ignored ...") again.
        try:
            fd = self._stream.fileno() if self._stream is not None else None
        except (OSError, ValueError, AttributeError):
            fd = None
        if fd is not None and fd >= 0:
            try:
                null = os.open(os.devnull, os.O_WRONLY)
                os.dup2(null, fd)
                os.close(null)
            except OSError:
                pass

    @property
    def broken_pipe(self) -> bool:
        """The reader went away (``EPIPE``): stop quietly, as the standard tools do."""
        return self.failure is not None and self.failure.errno == errno.EPIPE


def stdout_failure_message(failure: OSError) -> str:
    """The one-line error of a failed write to standard output."""
    reason = failure.strerror or str(failure)
    if failure.errno == errno.EBADF:
        reason = "it is closed"
    return f"cannot write to standard output ({reason}); what was printed after that is lost"


class StderrHandler(logging.StreamHandler):
    """A logging handler writing each record to the current ``sys.stderr``."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)
