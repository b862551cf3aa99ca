"""The common base of every dataset: indexing, per-item randomness, crop and augmentation.

Indexing
--------
A dataset has ``len(ds)`` *items* (images, or short/long pairs). ``ds[k]`` accepts any
``k >= 0``: it loads item ``k % len(ds)`` with *draw* ``k // len(ds)``. Draw 0 of an item is
what evaluation sees; a training sampler that walks ``epoch * len(ds) + i``
(:class:`expodiff.data.epochs.EpochSampler`) gets a fresh crop, flip and (for unprocessed
images) fresh camera metadata every epoch, while each ``ds[k]`` stays a pure function of
``(seed, item name, draw)``. That makes data loading reproducible in any number of worker
processes and lets a resumed run see exactly the samples the uninterrupted run would have.
Iterating over a dataset (``for s in ds``) visits the ``len(ds)`` items once, draw 0.

Datasets hold only file lists and small metadata, so they are cheap to build (no decoding in
``__init__``) and picklable for ``DataLoader`` worker processes.
"""

from __future__ import annotations

import zlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
from torch.utils.data import Dataset

from ..errors import DataError
from ..io.inputs import is_hidden
from .augment import SampleTransform
from .types import RawSample

__all__ = [
    "RawDataset",
    "item_rng",
    "list_files",
    "files_of_folders",
    "split_set_part",
    "HOLDOUT_EVERY",
]


def item_rng(seed: int, key: str, draw: int) -> np.random.Generator:
    """The generator of one (seed, item, draw): independent streams, stable across runs.

    ``key`` is a stable name of the item (not its position in a list), so adding files to a
    folder does not change the draws of the others.
    """
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, zlib.crc32(key.encode()), int(draw)])


def list_files(folder: Path, suffixes: Sequence[str], what: str) -> list[Path]:
    """Files directly in ``folder`` whose extension (any case) is in ``suffixes``, sorted;
    hidden files (``._NAME``, temporary files) are skipped.

    Raises:
        DataError: the folder is missing or holds no such file (``what``: "image", "raw").
    """
    if not folder.is_dir():
        raise DataError(f"{folder}: {what} folder not found")
    files = sorted(
        p
        for p in folder.iterdir()
        if p.suffix.lower() in suffixes and not is_hidden(p) and p.is_file()
    )
    if not files:
        raise DataError(f"{folder}: no {what} files (by extension: {', '.join(suffixes)})")
    return files


# One folder split three ways by sorted file name i = 0, 1, ...: every HOLDOUT_EVERY-th file
# (i % 10 == 0) is held back from training; of those, the files with i % 20 == 10 are
# "NAME:val" (the only data that may choose checkpoints, recipes or thresholds) and those with
# i % 20 == 0 are "NAME:test" (only reported); "NAME:train" is every other file.
HOLDOUT_EVERY = 10
SET_PARTS = ("train", "val", "test")


def set_part_of_index(index: int) -> str:
    """The part (``train``, ``val`` or ``test``) of the ``index``-th file of a sorted folder."""
    if index % HOLDOUT_EVERY:
        return "train"
    return "val" if index % (2 * HOLDOUT_EVERY) else "test"


def split_set_part(folder: str | Path) -> tuple[Path, str | None]:
    """``"root/Photos:val"`` -> ``(Path("root/Photos"), "val")``; no part -> ``None``."""
    text = str(folder)
    head, sep, part = text.rpartition(":")
    if sep and part in SET_PARTS and head:
        return Path(head), part
    return Path(text), None


def files_of_folders(
    folders: Sequence[str | Path], list_folder: Callable[[Path], list[Path]]
) -> tuple[list[Path], list[str]]:
    """The files of several folders and their stable names ``<folder name>/<file name>``.

    A folder given as ``FOLDER:train``, ``FOLDER:val`` or ``FOLDER:test`` contributes that
    part of its files (:func:`set_part_of_index`), so one folder of photographs serves
    training, validation and a test set without overlap.
    """
    files, keys = [], []
    for spec in folders:
        folder, part = split_set_part(spec)
        listed = list_folder(folder)
        if part is not None:
            listed = [p for i, p in enumerate(listed) if set_part_of_index(i) == part]
        for path in listed:
            files.append(path)
            keys.append(f"{folder.name}/{path.name}")
    return files, keys


class RawDataset(Dataset, ABC):
    """Base class: subclasses list their items and :meth:`load` one full frame.

    Args:
        transform: crop / augmentation applied to every loaded item.
        seed: base seed of the per-item generators.

    Attributes:
        random_source: True when :meth:`load` itself draws random settings (so different
            draws of an item differ beyond crop and flips), e.g. unprocessing.
    """

    random_source: bool = False

    def __init__(self, *, transform: SampleTransform | None = None, seed: int = 0) -> None:
        self.transform = transform or SampleTransform()
        self.seed = int(seed)

    # ---------------------------------------------------------------- subclass API
    @abstractmethod
    def __len__(self) -> int:
        """Number of items."""

    @abstractmethod
    def item_key(self, item: int) -> str:
        """A stable, unique name of item ``item`` (used for seeding and error messages)."""

    @abstractmethod
    def load(self, item: int, rng: np.random.Generator) -> RawSample:
        """Load item ``item`` as a full-frame :class:`RawSample` (before crop/augmentation).

        ``rng`` is the item's generator for any random choice the source itself makes.
        """

    # ------------------------------------------------------------------ indexing
    def __getitem__(self, index: int) -> RawSample:
        n = len(self)
        index = int(index)
        if index < 0:
            raise IndexError(f"dataset index must be >= 0, got {index}")
        item, draw = index % n, index // n
        return self.load_transformed(item, item_rng(self.seed, self.item_key(item), draw))

    def load_transformed(self, item: int, rng: np.random.Generator) -> RawSample:
        """:meth:`load` then the transform (a source may override it to crop earlier)."""
        sample = self.load(item, rng)
        try:
            clean, noisy = self.transform.apply([sample.clean, sample.noisy], rng)
        except ValueError as exc:
            raise DataError(f"{sample.name}: {exc}") from None
        return replace(sample, clean=clean, noisy=noisy)

    def __iter__(self) -> Iterator[RawSample]:
        for index in range(len(self)):
            yield self[index]

    def names(self) -> list[str]:
        """The stable names of all items, in index order."""
        return [self.item_key(i) for i in range(len(self))]
