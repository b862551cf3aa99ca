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
from collections.abc import Callable
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
    if source.transform.crop is not CropMode.FULL or source.transform.augment:
        raise ValueError("build_patch_cache needs a full-frame source without augmentation")
    if patch_size < 1 or patches_per_image < 1:
        raise ValueError("patch_size and patches_per_image must be >= 1")
    if dtype not in _DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(_DTYPES)}, got {dtype!r}")
    out = Path(out_dir)
    if out.exists():
        if not overwrite:
            raise OutputFileError(f"{out}: already exists (pass --overwrite to replace it)")
        if not (out / "manifest.json").is_file():
            raise OutputFileError(f"{out}: exists and is not a patch cache; not replacing it")
    if not out.parent.is_dir():
        raise OutputFileError(f"{out}: output folder {out.parent} does not exist")
    n_items = len(source)
    if n_items == 0:
        raise DataError("the source dataset is empty")
    count = n_items * patches_per_image
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    except OSError as exc:
        raise OutputFileError(f"{out}: cannot write in {out.parent}: {exc.strerror}") from None
    try:
        records: list[dict[str, Any]] = []
        clean_arr = noisy_arr = None
        channels = 0
        has_noisy = False
        random_source = source.random_source
        for item in range(n_items):
            key = source.item_key(item)
            sample = None
            for j in range(patches_per_image):
                if sample is None or random_source:
                    draw = j if random_source else 0
                    sample = source.load(item, item_rng(seed, key, draw))
                rng = item_rng(seed, f"{key}#patch", j)
                h, w = sample.clean.shape[-2:]
                try:
                    y, x = random_crop_origin(h, w, patch_size, rng)
                except ValueError as exc:
                    raise DataError(f"{sample.name}: {exc}") from None
                if clean_arr is None:
                    channels = sample.clean.shape[0]
                    has_noisy = sample.noisy is not None
                    shape = (count, channels, patch_size, patch_size)
                    clean_arr = np.lib.format.open_memmap(
                        tmp / "clean.npy", mode="w+", dtype=_DTYPES[dtype], shape=shape
                    )
                    if has_noisy:
                        noisy_arr = np.lib.format.open_memmap(
                            tmp / "noisy.npy", mode="w+", dtype=_DTYPES[dtype], shape=shape
                        )
                if sample.clean.shape[0] != channels or (sample.noisy is not None) != has_noisy:
                    raise DataError(f"{sample.name}: differs in channels or kind from the others")
                index = len(records)
                window = (slice(None), slice(y, y + patch_size), slice(x, x + patch_size))
                clean_arr[index] = sample.clean[window].numpy()
                if noisy_arr is not None and sample.noisy is not None:
                    noisy_arr[index] = sample.noisy[window].numpy()
                records.append(_sample_record(sample, draw, y, x, item))
            if progress is not None:
                progress(item + 1, n_items)
        for arr in (clean_arr, noisy_arr):
            if arr is not None:
                arr.flush()
        del clean_arr, noisy_arr
        manifest = CacheManifest(
            count=count,
            patch_size=patch_size,
            channels=channels,
            dtype=dtype,
            has_noisy=has_noisy,
            patches_per_image=patches_per_image,
            seed=seed,
            source=dict(description or {}),
        )
        (tmp / "samples.json").write_text(json.dumps(records))
        (tmp / "manifest.json").write_text(json.dumps(asdict(manifest), indent=1))
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest


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
