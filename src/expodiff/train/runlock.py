"""One training run per output folder at a time: an OS lock on ``OUTPUT_DIR/.train.lock``.

The lock is ``flock`` on the file, held by the process that trains into the folder: the
kernel releases it when that process ends in any way (finished, interrupted, crashed,
killed), so a lock file left behind by a dead process never blocks the next run. The file
holds the owner's process id, for the message of a run that finds the folder busy. On
systems without ``fcntl`` (Windows) nothing is locked.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from ..errors import ConfigError

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]

__all__ = ["LOCK_FILE", "RunLock", "check_not_locked", "lock_run_folder"]

LOCK_FILE = ".train.lock"


def _busy(folder: Path, fd: int) -> ConfigError:
    with contextlib.suppress(OSError, ValueError):
        os.lseek(fd, 0, os.SEEK_SET)
        owner = int(os.read(fd, 32).decode().strip())
        return ConfigError(
            f"{folder}: another expodiff train (process {owner}) is running into this folder; "
            "wait for it to end or choose another train.output_dir"
        )
    return ConfigError(
        f"{folder}: another expodiff train is running into this folder; wait for it to end "
        "or choose another train.output_dir"
    )


def check_not_locked(folder: str | Path) -> None:
    """Raise :class:`ConfigError` when a running process holds the lock of ``folder``.

    Creates nothing (a dry run writes nothing): a folder without a lock file is free.
    """
    path = Path(folder) / LOCK_FILE
    if fcntl is None or not path.is_file():
        return
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return  # unreadable: the real lock in RunLock.acquire decides
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise _busy(Path(folder), fd) from None
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


class RunLock:
    """The exclusive lock of one run folder, held from :meth:`acquire` to :meth:`release`
    (or to the end of the process)."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.fd: int | None = None

    def acquire(self) -> None:
        """Create the folder and take its lock, or raise :class:`ConfigError` at once when
        another process holds it."""
        if fcntl is None or self.fd is not None:
            return
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise ConfigError(
                f"{self.folder}: cannot write the run folder ({exc.strerror})"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            error = _busy(self.folder, fd)
            os.close(fd)
            raise error from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.fd = fd

    def release(self) -> None:
        """Release the lock (the file stays: removing it could race with a new owner)."""
        if self.fd is None:
            return
        with contextlib.suppress(OSError):
            fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)
        self.fd = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def lock_run_folder(out: Path, is_main: bool, latest_at_start, broadcast) -> RunLock | None:
    """Rank 0 takes ``out``'s lock and checks that no other run wrote checkpoints there
    since this one was set up (its latest then: ``latest_at_start``); every rank raises the
    same :class:`ConfigError` if not (``broadcast``: the ranks' ``broadcast_object``).

    Returns:
        The held lock on rank 0, None on the others.
    """
    from .checkpoint import find_latest_checkpoint

    lock = RunLock(out) if is_main else None
    error = None
    if lock is not None:
        try:
            lock.acquire()
            if find_latest_checkpoint(out) != latest_at_start:
                raise ConfigError(
                    f"{out}: its checkpoints changed since this run was set up "
                    "(another run used the folder); start again (--resume continues "
                    "the latest)"
                )
        except ConfigError as exc:
            lock.release()
            error = str(exc)
    error = broadcast(error)
    if error is not None:
        raise ConfigError(error)
    return lock
