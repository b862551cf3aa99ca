"""Build the dataset of a :class:`~expodiff.config.DataConfig` and a split.

=================  ==============================================================  ========
kind               items                                                           noisy
=================  ==============================================================  ========
``unprocess``      images of the split's sets under root (default                  None
                   ``EXPODIFF_DATA/clean``), unprocessed with SID scene metadata
                   of the same official SID split (see SCENE_METADATA_FILES)
``clean_raw``      raw files of the split's sets under root                        None
``sid_synthetic``  distinct long frames of the split's SID list                    None
``sid_paired``     short/long pairs of the split's SID list                        real
``eld``            ELD inputs x100 / x200 with their references (val, test only)   real
=================  ==============================================================  ========

What each split does to its items:

* train: a random ``patch_size`` crop plus random flips/transposes (or, with ``cache`` set,
  crops of the patch cache built by ``expodiff cache-patches``);
* val: the centre ``val_crop`` crop (whole frames when ``val_crop`` is None);
* test: whole frames.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..config import DataConfig, config_to_dict
from ..defaults import ELD_FULL_SCALE_DN
from ..errors import DataError
from ..io.profiles import load_profile
from ..kinds import DatasetKind, parse_enum
from ..noise.camera import CameraProfile
from ..paths import data_root
from .augment import CropMode, SampleTransform
from .base import RawDataset
from .cache import PatchCacheDataset, read_manifest
from .cleanraw import CleanRawDataset
from .eld import ELDDataset, list_eld_cameras
from .sid import SIDPairedDataset, SIDSyntheticDataset
from .types import Split
from .unprocess_dataset import UnprocessDataset, load_scene_metadata

__all__ = [
    "build_dataset",
    "default_transform",
    "has_split",
    "resolve_sid_list",
    "describe",
    "ProfileGain",
    "SCENE_METADATA_FILES",
]

# SID scene metadata (EXPODIFF_DATA/sid_meta, PMN's files) lent to unprocessed images, per
# split, following the *official* SID split of the scenes: PMN's SID_train holds the 161
# training scenes (0xxxx), its SID_test the 20 scenes of the official validation list (2xxxx)
# and its SID_eval the 50 scenes of the official test list (1xxxx).
SCENE_METADATA_FILES = {
    Split.TRAIN: "SID_train.info.json",
    Split.VAL: "SID_test.info.json",
    Split.TEST: "SID_eval.info.json",
}


@dataclass(frozen=True)
class ProfileGain:
    """K of a camera at an ISO through its noise profile (a picklable ``GainForIso``).

    Uses :meth:`expodiff.noise.camera.CameraProfile.system_gain_at_iso` (K linear in ISO
    between the calibrated values at ISO 100 and 6400). That K is DN per electron of the
    camera's raw files; a sample's K is on the model's ``full_scale_dn`` scale, so it is
    converted with the file's ``white - black`` (``dn_range``):
    ``K * full_scale_dn / dn_range`` (as ``expodiff enhance`` does, docs/enhance.md).

    Attributes:
        profiles: ``(camera name, profile)`` pairs.
        full_scale_dn: the model's DN span of raw_norm 1 (ELD's 15583).
    """

    profiles: tuple[tuple[str, CameraProfile], ...]
    full_scale_dn: float = ELD_FULL_SCALE_DN

    @classmethod
    def for_cameras(cls, cameras: Sequence[str]) -> ProfileGain:
        """Load the profiles (:func:`~expodiff.io.profiles.load_profile`; its error lists
        the known cameras)."""
        return cls(tuple((camera, load_profile(camera)) for camera in cameras))

    def __call__(self, camera: str, iso: float, dn_range: float) -> float:
        for name, profile in self.profiles:
            if name == camera:
                try:
                    if not dn_range > 0:
                        raise ValueError(f"white - black must be positive, got {dn_range}")
                    return profile.system_gain_at_iso(iso) * self.full_scale_dn / dn_range
                except ValueError as exc:
                    raise DataError(f"camera {camera}, ISO {iso:g}: {exc}") from None
        raise DataError(f"camera {camera!r}: no noise profile loaded")


def default_transform(cfg: DataConfig, split: Split) -> SampleTransform:
    """The crop/augmentation of a split (see the module docstring)."""
    if split is Split.TRAIN:
        return SampleTransform(CropMode.RANDOM, cfg.patch_size, augment=True)
    if split is Split.VAL and cfg.val_crop is not None:
        return SampleTransform(CropMode.CENTRE, cfg.val_crop)
    return SampleTransform()


def _sets(cfg: DataConfig, split: Split) -> tuple[str, ...]:
    return {Split.TRAIN: cfg.train_sets, Split.VAL: cfg.val_sets, Split.TEST: cfg.test_sets}[split]


def has_split(cfg: DataConfig, split: Split | str) -> bool:
    """Whether :func:`build_dataset` can build ``split`` (without touching the disk).

    False for unprocess / clean_raw splits with no sets configured and for the ELD train
    split; SID splits always exist (their lists are checked when built).
    """
    split = parse_enum(Split, split)
    if cfg.kind in (DatasetKind.UNPROCESS, DatasetKind.CLEAN_RAW):
        return bool(_sets(cfg, split))
    if cfg.kind is DatasetKind.ELD:
        return split is not Split.TRAIN
    return True


def _root(cfg: DataConfig) -> Path:
    if cfg.root is None:
        if cfg.kind is DatasetKind.UNPROCESS:
            return data_root() / "clean"
        raise DataError(f"data.root is required for data.kind={cfg.kind.value}")
    root = Path(cfg.root).expanduser()
    if not root.is_dir():
        raise DataError(f"{root}: dataset root (data.root) not found")
    return root


def resolve_sid_list(lists: str, split: Split) -> Path:
    """The SID list file of ``split`` named by ``data.sid_lists`` (see DataConfig)."""
    candidates = [Path(lists).expanduser(), data_root() / "splits" / lists]
    base = next((c for c in candidates if c.exists()), None)
    if base is None:
        raise DataError(
            f"data.sid_lists={lists!r}: neither {candidates[0]} nor {candidates[1]} exists"
        )
    if base.is_file():
        return base
    names = [f"Sony_{split.value}_list.txt", f"Sony_{split.value}.txt"]
    found = [base / n for n in names if (base / n).is_file()]
    if len(found) != 1:
        what = "none" if not found else "both"
        raise DataError(
            f"{base}: expected one of {' or '.join(names)} for split {split.value}, found {what}"
        )
    return found[0]


def _check_cache(cfg: DataConfig) -> Path:
    cache = Path(cfg.cache).expanduser()  # type: ignore[arg-type]
    manifest = read_manifest(cache)
    built_kind = manifest.source.get("data", {}).get("kind")
    if built_kind is not None and built_kind != cfg.kind.value:
        raise DataError(
            f"{cache}: the patch cache was built from data.kind={built_kind}, "
            f"but data.kind is {cfg.kind.value}"
        )
    return cache


def build_dataset(
    cfg: DataConfig,
    split: Split | str,
    *,
    seed: int = 0,
    transform: SampleTransform | None = None,
) -> RawDataset:
    """The dataset of ``split`` described by ``cfg``.

    Args:
        cfg: the data section of an experiment config.
        split: ``train``, ``val`` or ``test``.
        seed: base seed of crops, flips and (unprocess) metadata draws.
        transform: overrides the split's default crop/augmentation (e.g. a full-frame source
            for the patch cache, or the 512 centre crop of the sid15-crop protocol).

    Raises:
        DataError: a missing root, list, set or file, or a split that is not configured.
    """
    split = parse_enum(Split, split)
    use_cache = split is Split.TRAIN and cfg.cache is not None and transform is None
    transform = transform or default_transform(cfg, split)
    if not has_split(cfg, split):
        if cfg.kind is DatasetKind.ELD:
            raise DataError("ELD is an evaluation dataset: it has val/test splits, no train")
        raise DataError(f"data.{split.value}_sets is empty: no {split.value} split configured")
    if use_cache:
        return PatchCacheDataset(_check_cache(cfg), transform=transform, seed=seed)
    kind = cfg.kind
    root = _root(cfg)
    if kind is DatasetKind.UNPROCESS:
        scenes = load_scene_metadata(data_root() / "sid_meta" / SCENE_METADATA_FILES[split])
        folders = [root / s for s in _sets(cfg, split)]
        return UnprocessDataset(
            folders,
            scenes,
            camera=cfg.camera,
            cfa=cfg.cfa,
            transform=transform,
            seed=seed,
            wb_jitter=cfg.wb_jitter if split is Split.TRAIN else 1.0,
            decode_cache_mb=cfg.decode_cache_mb,
            defer_unprocess=cfg.unprocess_on_device and split is Split.TRAIN,
        )
    if kind is DatasetKind.CLEAN_RAW:
        folders = [root / s for s in _sets(cfg, split)]
        return CleanRawDataset(folders, camera=cfg.camera, transform=transform, seed=seed)
    if kind in (DatasetKind.SID_PAIRED, DatasetKind.SID_SYNTHETIC):
        list_file = resolve_sid_list(cfg.sid_lists, split)
        if kind is DatasetKind.SID_SYNTHETIC:
            return SIDSyntheticDataset(
                root, list_file, camera=cfg.camera, transform=transform, seed=seed
            )
        return SIDPairedDataset(
            root,
            list_file,
            gain_for_iso=ProfileGain.for_cameras([cfg.camera]),
            camera=cfg.camera,
            transform=transform,
            seed=seed,
        )
    if kind is DatasetKind.ELD:
        cameras = list(cfg.eld_cameras) or list_eld_cameras(root)
        return ELDDataset(
            root,
            gain_for_iso=ProfileGain.for_cameras(cameras),
            cameras=cameras,
            scenes=cfg.eld_scenes,
            ratios=cfg.eld_ratios,
            transform=transform,
            seed=seed,
        )
    raise DataError(f"unsupported data.kind {kind.value}")  # pragma: no cover


def describe(cfg: DataConfig, split: Split) -> dict:
    """JSON-able provenance of a dataset (stored in patch cache manifests)."""
    return {"data": config_to_dict(cfg), "split": split.value}
