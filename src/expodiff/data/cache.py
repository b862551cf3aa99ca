"""A patch cache: fixed-size crops of any dataset in memory-mapped ``.npy`` arrays.

Decoding a 12-megapixel raw file costs far more than a training step on one crop of it, and
unprocessing repeats work per epoch. ``expodiff cache-patches`` (see docs/data.md) extracts
``patches_per_image`` crops of every item of a split once and stores them as::

    CACHE/
      manifest.json   format, version, counts, patch size, dtype, the data config it came from
      samples.json    one entry per patch: source name, metadata, origin (y, x), draw
      clean.npy       (N, C, P, P) raw_norm
      noisy.npy       (N, C, P, P) amplified short exposures (real pairs only)

:class:`PatchCacheDataset` reads them through ``numpy.load(mmap_mode="r")``: the operating
system pages in only the patches a worker touches, every worker shares the page cache, and
the dataset pickles without its arrays (they are reopened lazily in each worker). Training
crops a random ``patch_size`` square from a cached patch (when the cache holds larger
patches) and applies the usual flips and transposes.

The cache is written into a temporary folder beside the target and renamed into place when
complete, so an interrupted build never leaves a half cache behind.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import DataError, OutputFileError
from ..raw import CFAPattern
from .augment import CropMode, SampleTransform, random_crop_origin
from .base import RawDataset, item_rng
from .types import RawSample

__all__ = ["CacheManifest", "build_patch_cache", "PatchCacheDataset", "read_manifest"]

CACHE_FORMAT = "expodiff-patch-cache"
CACHE_VERSION = 1
_DTYPES = {"float32": np.float32, "float16": np.float16}


@dataclass(frozen=True)
class CacheManifest:
    """What a patch cache holds (``manifest.json``)."""

    count: int
    patch_size: int
    channels: int
    dtype: str
    has_noisy: bool
    patches_per_image: int
    seed: int
    source: dict[str, Any] = field(default_factory=dict)  # e.g. the resolved DataConfig + split
    format: str = CACHE_FORMAT
    version: int = CACHE_VERSION


def read_manifest(cache_dir: str | Path) -> CacheManifest:
    """Read and check ``manifest.json`` of a cache; DataError naming the folder otherwise."""
    folder = Path(cache_dir)
    path = folder / "manifest.json"
    if not path.is_file():
        raise DataError(
            f"{folder}: not a patch cache (no manifest.json); build one with "
            "`expodiff cache-patches`"
        )
    try:
        data = json.loads(path.read_text())
        manifest = CacheManifest(**data)
    except (OSError, ValueError, TypeError) as exc:
        raise DataError(f"{path}: unreadable cache manifest ({exc})") from None
    if manifest.format != CACHE_FORMAT or manifest.version != CACHE_VERSION:
        raise DataError(
            f"{path}: cache format {manifest.format} v{manifest.version} is not "
            f"{CACHE_FORMAT} v{CACHE_VERSION}; rebuild it with `expodiff cache-patches`"
        )
    return manifest


def _sample_record(sample: RawSample, draw: int, y: int, x: int, item: int) -> dict[str, Any]:
    return {
        "name": sample.name,
        "camera": sample.camera,
        "iso": sample.iso,
        "exposure_ratio": sample.exposure_ratio,
        "system_gain": sample.system_gain,
        "white_balance": list(sample.white_balance),
        "colour_matrix": [list(r) for r in sample.colour_matrix],
        "cfa": sample.cfa.value,
        "source_item": item,
        "draw": draw,
        "y": y,
        "x": x,
    }


def build_patch_cache(
    source: RawDataset,
    out_dir: str | Path,
    *,
    patch_size: int,
    patches_per_image: int,
    seed: int = 0,
    dtype: str = "float32",
    overwrite: bool = False,
    description: dict[str, Any] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> CacheManifest:
    """Extract ``patches_per_image`` random crops of every item of ``source`` into a cache.

    Args:
        source: a full-frame dataset (its own transform must be FULL without augmentation).
            A source that draws settings per sample (``random_source``, e.g. unprocessing)
            is loaded once per patch with draws 0, 1, ...; others are decoded once per item.
        out_dir: the cache folder to create.
        patch_size: side of a cached patch in packed pixels.
        patches_per_image: crops per item (uniformly random positions, seeded).
        seed: seed of the crop positions (and draws of random sources).
        dtype: ``"float32"`` (exact) or ``"float16"`` (half the size).
        overwrite: replace an existing cache folder (never a folder that is not a cache).
        description: JSON-able provenance stored in the manifest (e.g. the DataConfig).
        progress: called as ``progress(done_items, total_items)``.

    Raises:
        DataError: an item smaller than ``patch_size``, an empty source.
        OutputFileError: the target exists (without ``overwrite``) or cannot be written.
    """
    out = Path(out_dir)
    _check_cache_request(source, out, patch_size, patches_per_image, dtype, overwrite=overwrite)
    n_items = len(source)
    if n_items == 0:
        raise DataError("the source dataset is empty")
    count = n_items * patches_per_image
    tmp = _make_temp_folder(out)
    try:
        arrays = _PatchArrays(tmp, count=count, patch_size=patch_size, dtype=dtype)
        records = _write_patches(source, arrays, patches_per_image, seed=seed, progress=progress)
        arrays.close()
        manifest = CacheManifest(
            count=count,
            patch_size=patch_size,
            channels=arrays.channels,
            dtype=dtype,
            has_noisy=arrays.has_noisy,
            patches_per_image=patches_per_image,
            seed=seed,
            source=dict(description or {}),
        )
        _publish_cache(tmp, out, records, manifest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest


def _check_cache_request(
    source: RawDataset,
    out: Path,
    patch_size: int,
    patches_per_image: int,
    dtype: str,
    *,
    overwrite: bool,
) -> None:
    """Refuse, before any work, a cropping or augmenting source (ValueError), sizes < 1 or
    an unknown dtype (ValueError), and a target that exists or has no parent (OutputFileError).
    """
    if source.transform.crop is not CropMode.FULL or source.transform.augment:
        raise ValueError("build_patch_cache needs a full-frame source without augmentation")
    if patch_size < 1 or patches_per_image < 1:
        raise ValueError("patch_size and patches_per_image must be >= 1")
    if dtype not in _DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(_DTYPES)}, got {dtype!r}")
    if out.exists():
        if not overwrite:
            raise OutputFileError(f"{out}: already exists (pass --overwrite to replace it)")
        if not (out / "manifest.json").is_file():
            raise OutputFileError(f"{out}: exists and is not a patch cache; not replacing it")
    if not out.parent.is_dir():
        problem = "is a file" if out.parent.exists() else "does not exist"
        raise OutputFileError(f"{out}: output folder {out.parent} {problem}")


def _make_temp_folder(out: Path) -> Path:
    """A fresh hidden folder beside ``out`` to build the cache in."""
    try:
        return Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    except OSError as exc:
        raise OutputFileError(f"{out}: cannot write in {out.parent}: {exc.strerror}") from None


def _write_patches(
    source: RawDataset,
    arrays: _PatchArrays,
    patches_per_image: int,
    *,
    seed: int,
    progress: Callable[[int, int], None] | None,
) -> list[dict[str, Any]]:
    """Crop every item of ``source`` into ``arrays``; one ``samples.json`` record per patch."""
    records: list[dict[str, Any]] = []
    n_items = len(source)
    for item in range(n_items):
        for sample, draw, y, x in _item_crops(
            source, item, arrays.patch_size, patches_per_image, seed
        ):
            arrays.write(len(records), sample, y, x)
            records.append(_sample_record(sample, draw, y, x, item))
        if progress is not None:
            progress(item + 1, n_items)
    return records


def _item_crops(
    source: RawDataset, item: int, patch_size: int, patches_per_image: int, seed: int
) -> Iterator[tuple[RawSample, int, int, int]]:
    """Yield ``(sample, draw, y, x)`` for each of the ``patches_per_image`` crops of an item.

    A ``random_source`` is loaded again for every crop (draw ``j``); others once (draw 0).

    Raises:
        DataError: the item is smaller than ``patch_size``.
    """
    key = source.item_key(item)
    sample = None
    draw = 0
    for j in range(patches_per_image):
        if sample is None or source.random_source:
            draw = j if source.random_source else 0
            sample = source.load(item, item_rng(seed, key, draw))
        rng = item_rng(seed, f"{key}#patch", j)
        h, w = sample.clean.shape[-2:]
        try:
            y, x = random_crop_origin(h, w, patch_size, rng)
        except ValueError as exc:
            raise DataError(f"{sample.name}: {exc}") from None
        yield sample, draw, y, x


class _PatchArrays:
    """``clean.npy`` (and ``noisy.npy``) of a cache being built, opened at the first patch.

    The first sample fixes the channel count and whether the cache holds noisy patches;
    every later sample must agree.
    """

    def __init__(self, folder: Path, *, count: int, patch_size: int, dtype: str) -> None:
        self.folder = folder
        self.count = count
        self.patch_size = patch_size
        self.dtype = _DTYPES[dtype]
        self.channels = 0
        self.has_noisy = False
        self.clean: np.ndarray | None = None
        self.noisy: np.ndarray | None = None

    def _open(self, sample: RawSample) -> None:
        self.channels = sample.clean.shape[0]
        self.has_noisy = sample.noisy is not None
        shape = (self.count, self.channels, self.patch_size, self.patch_size)
        self.clean = np.lib.format.open_memmap(
            self.folder / "clean.npy", mode="w+", dtype=self.dtype, shape=shape
        )
        if self.has_noisy:
            self.noisy = np.lib.format.open_memmap(
                self.folder / "noisy.npy", mode="w+", dtype=self.dtype, shape=shape
            )

    def write(self, index: int, sample: RawSample, y: int, x: int) -> None:
        """Store the ``patch_size`` square of ``sample`` at origin ``(y, x)`` as patch ``index``.

        Raises:
            DataError: the sample differs in channels or kind (paired or not) from the first.
        """
        if self.clean is None:
            self._open(sample)
        if sample.clean.shape[0] != self.channels or (sample.noisy is not None) != self.has_noisy:
            raise DataError(f"{sample.name}: differs in channels or kind from the others")
        size = self.patch_size
        window = (slice(None), slice(y, y + size), slice(x, x + size))
        self.clean[index] = sample.clean[window].numpy()
        if self.noisy is not None and sample.noisy is not None:
            self.noisy[index] = sample.noisy[window].numpy()

    def close(self) -> None:
        """Flush the arrays to disk and drop the memory maps."""
        for arr in (self.clean, self.noisy):
            if arr is not None:
                arr.flush()
        self.clean = self.noisy = None


def _publish_cache(
    tmp: Path, out: Path, records: list[dict[str, Any]], manifest: CacheManifest
) -> None:
    """Write the JSON files into ``tmp`` and rename it to ``out`` (replacing an old cache)."""
    (tmp / "samples.json").write_text(json.dumps(records))
    (tmp / "manifest.json").write_text(json.dumps(asdict(manifest), indent=1))
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)


class PatchCacheDataset(RawDataset):
    """Patches of a cache built by :func:`build_patch_cache`, as :class:`RawSample` items.

    Args:
        cache_dir: the cache folder.
        transform: usually a RANDOM crop of the training patch size (at most the cached size)
            with augmentation.
        seed: base seed of the per-item crops and flips.
    """

    def __init__(
        self, cache_dir: str | Path, *, transform: SampleTransform | None = None, seed: int = 0
    ) -> None:
        super().__init__(transform=transform, seed=seed)
        self.cache_dir = Path(cache_dir)
        self.manifest = read_manifest(self.cache_dir)
        size = self.transform.size
        if self.transform.crop is not CropMode.FULL and size and size > self.manifest.patch_size:
            raise DataError(
                f"{self.cache_dir}: cached patches are {self.manifest.patch_size} px, smaller "
                f"than the requested crop {size}; rebuild the cache with a larger --patch-size"
            )
        try:
            self.records: list[dict[str, Any]] = json.loads(
                (self.cache_dir / "samples.json").read_text()
            )
        except (OSError, ValueError) as exc:
            raise DataError(f"{self.cache_dir}/samples.json: unreadable ({exc})") from None
        if len(self.records) != self.manifest.count:
            raise DataError(
                f"{self.cache_dir}: samples.json lists {len(self.records)} patches, "
                f"the manifest {self.manifest.count}"
            )
        self._arrays: tuple[np.ndarray, np.ndarray | None] | None = None

    def _open(self) -> tuple[np.ndarray, np.ndarray | None]:
        if self._arrays is None:
            m = self.manifest
            expected = (m.count, m.channels, m.patch_size, m.patch_size)
            arrays = []
            for name in ("clean", "noisy") if m.has_noisy else ("clean",):
                path = self.cache_dir / f"{name}.npy"
                try:
                    arr = np.load(path, mmap_mode="r")
                except (OSError, ValueError) as exc:
                    raise DataError(f"{path}: unreadable cache array ({exc})") from None
                if arr.shape != expected or arr.dtype != _DTYPES[m.dtype]:
                    raise DataError(
                        f"{path}: shape {arr.shape} {arr.dtype} does not match the manifest "
                        f"{expected} {m.dtype}"
                    )
                arrays.append(arr)
            self._arrays = (arrays[0], arrays[1] if m.has_noisy else None)
        return self._arrays

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_arrays"] = None  # memory maps are reopened in each worker
        return state

    def __len__(self) -> int:
        return self.manifest.count

    def item_key(self, item: int) -> str:
        r = self.records[item]
        return f"{r['name']}#{r['draw']}@{r['y']},{r['x']}"

    def load(self, item: int, rng: np.random.Generator) -> RawSample:
        clean_arr, noisy_arr = self._open()
        r = self.records[item]
        clean = torch.from_numpy(np.array(clean_arr[item], dtype=np.float32))
        noisy = (
            None
            if noisy_arr is None
            else torch.from_numpy(np.array(noisy_arr[item], dtype=np.float32))
        )
        return RawSample(
            clean=clean,
            noisy=noisy,
            exposure_ratio=r["exposure_ratio"],
            system_gain=r["system_gain"],
            iso=r["iso"],
            camera=r["camera"],
            name=r["name"],
            white_balance=tuple(r["white_balance"]),  # type: ignore[arg-type]
            colour_matrix=tuple(tuple(row) for row in r["colour_matrix"]),
            cfa=CFAPattern(r["cfa"]),
        )
