"""The ELD dataset (Wei et al., CVPR 2020) in its published layout.

Layout::

    ROOT/<Camera>/scene-<k>/IMG_0001.<ext> ... IMG_0016.<ext>

with ``<Camera>`` one of ``SonyA7S2``, ``NikonD850``, ``CanonEOS70D``, ``CanonEOS700D`` (the
camera profile names) and any raw extension (``.ARW``, ``.nef``, ``.CR2``). In every scene,
frames 1, 6, 11 and 16 are long-exposure references; the low-light inputs are frames
4, 9, 14 (ratio x100) and 5, 10, 15 (ratio x200). Each input is paired with the nearest
reference (4, 5 -> 6; 9, 10 -> 11; 14, 15 -> 16), as the ELD evaluation code does. The
exposure ratio is ``(ISO x exposure time)`` of the reference over that of the input, read from
the files' metadata (ISO is part of it because the inputs are shot at higher ISO); K comes
from the input's ISO through the camera profile.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..io.rawio import RawFrame
from .augment import SampleTransform
from .base import RawDataset
from .rawsource import GainForIso, clean_planes, dn_range, frame_metadata, read_pair
from .types import RawSample

__all__ = [
    "ELD_REFERENCE_IDS",
    "ELD_INPUT_IDS",
    "ELDItem",
    "eld_reference_id",
    "list_eld_cameras",
    "ELDDataset",
]

# Wei et al. 2020, ELD eval code (ELDEvalDataset): references and the inputs of each ratio.
ELD_REFERENCE_IDS = (1, 6, 11, 16)
ELD_INPUT_IDS: dict[int, tuple[int, ...]] = {100: (4, 9, 14), 200: (5, 10, 15)}


@dataclass(frozen=True)
class ELDItem:
    """One input/reference pair of the ELD layout."""

    camera: str
    scene: int
    nominal_ratio: int
    input_path: Path
    reference_path: Path

    @property
    def name(self) -> str:
        return f"{self.camera}/scene-{self.scene}/{self.input_path.name}"


def eld_reference_id(image_id: int) -> int:
    """The reference frame nearest to input ``image_id`` (ties go to the earlier frame)."""
    return min(ELD_REFERENCE_IDS, key=lambda ref: (abs(ref - image_id), ref))


def list_eld_cameras(root: Path) -> list[str]:
    """Camera folders under ``root`` that hold ``scene-*`` folders, sorted."""
    if not root.is_dir():
        raise DataError(f"{root}: ELD dataset root not found")
    cameras = sorted(p.name for p in root.iterdir() if p.is_dir() and any(p.glob("scene-*")))
    if not cameras:
        raise DataError(f"{root}: no <Camera>/scene-<k> folders (ELD layout)")
    return cameras


def _find_frame(scene_dir: Path, image_id: int) -> Path:
    matches = sorted(p for p in scene_dir.glob(f"IMG_{image_id:04d}.*") if p.is_file())
    if not matches:
        raise DataError(f"{scene_dir / f'IMG_{image_id:04d}.*'}: frame is missing")
    if len(matches) > 1:
        names = ", ".join(p.name for p in matches)
        raise DataError(f"{scene_dir}: several files for frame {image_id}: {names}")
    return matches[0]


def _exposure(frame: RawFrame, path: Path) -> float:
    if frame.iso is None or frame.exposure_time is None:
        raise DataError(f"{path}: no ISO or exposure time in the metadata; the ratio is unknown")
    return frame.iso * float(frame.exposure_time)


class ELDDataset(RawDataset):
    """Real ELD pairs: ``noisy`` = input x ratio, ``clean`` = nearest reference frame.

    Args:
        root: the folder holding the camera folders.
        gain_for_iso: K of ``(camera, iso)``; the camera folder name is the profile name.
        cameras: camera folders to use; empty: every camera folder found.
        scenes: scene numbers (``scene-<k>``).
        ratios: nominal ratios to include (100 and/or 200).
        transform, seed: see :class:`~expodiff.data.base.RawDataset`.
    """

    def __init__(
        self,
        root: str | Path,
        *,
        gain_for_iso: GainForIso,
        cameras: Sequence[str] = (),
        scenes: Sequence[int] = tuple(range(1, 11)),
        ratios: Sequence[int] = (100, 200),
        transform: SampleTransform | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(transform=transform, seed=seed)
        self.root = Path(root)
        if not self.root.is_dir():
            raise DataError(f"{self.root}: ELD dataset root not found")
        unknown = [r for r in ratios if r not in ELD_INPUT_IDS]
        if unknown or not ratios:
            raise DataError(f"ELD ratios must be among {sorted(ELD_INPUT_IDS)}, got {list(ratios)}")
        if not scenes:
            raise DataError("no ELD scenes selected")
        self.gain_for_iso = gain_for_iso
        self.items: list[ELDItem] = []
        for camera in cameras or list_eld_cameras(self.root):
            camera_dir = self.root / camera
            if not camera_dir.is_dir():
                raise DataError(f"{camera_dir}: ELD camera folder not found")
            for scene in scenes:
                scene_dir = camera_dir / f"scene-{scene}"
                if not scene_dir.is_dir():
                    raise DataError(f"{scene_dir}: ELD scene folder not found")
                for ratio in ratios:
                    for image_id in ELD_INPUT_IDS[ratio]:
                        self.items.append(
                            ELDItem(
                                camera,
                                scene,
                                ratio,
                                _find_frame(scene_dir, image_id),
                                _find_frame(scene_dir, eld_reference_id(image_id)),
                            )
                        )

    def __len__(self) -> int:
        return len(self.items)

    def item_key(self, item: int) -> str:
        return self.items[item].name

    def load(self, item: int, rng: np.random.Generator) -> RawSample:
        it = self.items[item]
        noisy_frame, ref_frame = read_pair(it.input_path, it.reference_path)
        ratio = _exposure(ref_frame, it.reference_path) / _exposure(noisy_frame, it.input_path)
        assert noisy_frame.iso is not None  # checked by _exposure
        return RawSample(
            clean=clean_planes(ref_frame),
            noisy=noisy_frame.packed_norm() * ratio,
            exposure_ratio=ratio,
            system_gain=float(self.gain_for_iso(it.camera, noisy_frame.iso, dn_range(noisy_frame))),
            iso=noisy_frame.iso,
            camera=it.camera,
            name=it.name,
            **frame_metadata(ref_frame),
        )
