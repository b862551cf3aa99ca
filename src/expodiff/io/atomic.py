"""Safe output writing: refuse to clobber, write to a temporary file, then rename."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from ..errors import OutputFileError

__all__ = [
    "check_output_path",
    "check_output_folder",
    "atomic_output",
    "refuse_input_as_output",
    "OutputExistsError",
]

# Characters of the final name's stem kept in a temporary file's name.
_TEMP_STEM_CHARS = 64


def refuse_input_as_output(output: str | Path, inputs: Iterable[str | Path]) -> None:
    """Raise :class:`OutputFileError` when ``output`` is one of ``inputs``.

    Compares files, not names: a symbolic link to the input, a hard link to it, or the same
    file reached through another path are all refused, with or without ``--overwrite``.
    """
    out = Path(output)
    if not out.exists():
        return
    for source in inputs:
        src = Path(source)
        if src.exists() and os.path.samefile(out, src):
            raise OutputFileError(
                f"{out}: is the input file; write the result under another name or folder"
            )


def check_output_path(
    path: str | Path,
    *,
    overwrite: bool = False,
    extensions: tuple[str, ...] | None = None,
    inputs: Iterable[str | Path] = (),
) -> Path:
    """Validate an output path before any work is done.

    Raises :class:`OutputFileError` (one line naming the path) when the output is one of
    ``inputs`` (checked first, so the message never suggests ``--overwrite`` for an input),
    the extension is not one of ``extensions`` (lower-case, with dot), the file exists and
    ``overwrite`` is False, the path is a directory, or its folder does not exist or is not
    writable.
    """
    p = Path(path)
    try:
        return _check_output_path(p, overwrite, extensions, inputs)
    except OSError as exc:  # a name too long for the file system, say
        raise OutputFileError(f"{p}: cannot write there ({exc.strerror})") from None


def _check_output_path(
    p: Path, overwrite: bool, extensions: tuple[str, ...] | None, inputs: Iterable[str | Path]
) -> Path:
    refuse_input_as_output(p, inputs)
    if extensions is not None and p.suffix.lower() not in extensions:
        valid = ", ".join(extensions)
        raise OutputFileError(
            f"{p}: unknown output extension {p.suffix or '(none)'!r}; use {valid}"
        )
    if p.is_dir():
        raise OutputFileError(f"{p}: is a directory, expected a file name")
    if p.exists() and not overwrite:
        raise OutputExistsError(p)
    parent = p.parent if str(p.parent) else Path(".")
    if parent.exists() and not parent.is_dir():
        raise OutputFileError(f"{p}: {parent} is a file, not a folder")
    if not parent.is_dir():
        raise OutputFileError(f"{p}: output folder {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputFileError(f"{p}: output folder {parent} is not writable")
    return p


def check_output_folder(path: str | Path, what: str) -> Path:
    """Validate a folder that a command creates or fills, before any work is done.

    Raises :class:`OutputFileError` (one line naming the path and ``what`` it is, e.g.
    ``train.output_dir``) when the path, or a folder on the way to it, is an existing file.
    """
    p = Path(path)
    try:
        for existing in (p, *p.parents):
            if existing.exists():
                break
        else:
            return p
        if not existing.is_dir():
            where = "exists and is not a folder" if existing == p else f"{existing} is a file"
            raise OutputFileError(f"{p}: {where} ({what} needs a folder here)")
    except OSError as exc:  # a name too long for the file system, say
        raise OutputFileError(f"{p}: cannot write there ({exc.strerror})") from None
    return p


def _current_umask() -> int:
    mask = os.umask(0o022)  # the only portable way to read it is to set it
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_output(path: str | Path, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success move it onto ``path``.

    The temporary file keeps the final suffix (so writers that dispatch on extension work)
    and is removed when the block raises, so a failed or interrupted write leaves nothing
    behind and never damages an existing file. Without ``overwrite`` the file is put in
    place by a hard link, which fails when the name exists: of several processes writing one
    name at once, exactly one succeeds and the others get :class:`OutputExistsError`.
    """
    final = Path(path)
    try:
        exists = final.exists()
    except OSError as exc:  # a name too long for the file system, say
        raise OutputFileError(f"{final}: cannot write there ({exc.strerror})") from None
    if exists and not overwrite:
        raise OutputExistsError(final)
    parent = final.parent if str(final.parent) else Path(".")
    try:
        # The stem is shortened so that a final name close to the file system's limit still
        # leaves room for the temporary name's additions.
        fd, tmp_name = tempfile.mkstemp(
            prefix=f".{final.stem[:_TEMP_STEM_CHARS]}.", suffix=f".tmp{final.suffix}", dir=parent
        )
    except OSError as exc:
        raise OutputFileError(f"{final}: cannot write in {parent}: {exc.strerror}") from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        # mkstemp creates the file 0600; give it the mode a plain open() would have.
        os.chmod(tmp, 0o666 & ~_current_umask())
        if overwrite:
            os.replace(tmp, final)
        else:
            _move_into_new_name(tmp, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def _move_into_new_name(tmp: Path, final: Path) -> None:
    """Rename ``tmp`` to ``final`` unless ``final`` exists, atomically where the file system
    has hard links (where it has not, a check then a rename)."""
    try:
        os.link(tmp, final)
    except FileExistsError:
        raise OutputExistsError(final) from None
    except OSError:  # no hard links here (FAT, some network file systems)
        if final.exists():
            raise OutputExistsError(final) from None
        os.replace(tmp, final)
        return
    tmp.unlink()


class OutputExistsError(OutputFileError):
    """The output exists and may not be replaced (another process may just have written it)."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"{path}: already exists (pass --overwrite to replace it)")
        self.path = path
