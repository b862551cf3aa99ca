"""Any folder of raw files as clean targets (noise synthesised later).

Every file with a raw extension (:data:`~expodiff.data.rawsource.RAW_SUFFIXES`) directly in
the given folders is one item: its packed raw_norm, clipped to [0, 1], is the clean image;
its own white balance, colour matrix and ISO travel with it. Use well-exposed, low-ISO
frames: whatever noise they hold becomes part of the "clean" target.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import DataError
from .augment import SampleTransform
from .base import RawDataset, files_of_folders
from .rawsource import clean_planes, frame_metadata, list_raw_files, read_bayer
from .types import RawSample

__all__ = ["CleanRawDataset"]


class CleanRawDataset(RawDataset):
    """Raw files of one or more folders as clean packed targets.

    Args:
        folders: folders of raw files; an item's name is ``<folder name>/<file name>``.
        camera: camera (profile) name recorded in the samples.
        transform, seed: see :class:`~expodiff.data.base.RawDataset`.
    """

    def __init__(
        self,
        folders: Sequence[str | Path],
        *,
        camera: str,
        transform: SampleTransform | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(transform=transform, seed=seed)
        if not folders:
            raise DataError("no folders given for the clean-raw dataset")
        self.files, self.keys = files_of_folders(folders, list_raw_files)
        self.camera = camera

    def __len__(self) -> int:
        return len(self.files)

    def item_key(self, item: int) -> str:
        return self.keys[item]

    def load(self, item: int, rng: np.random.Generator) -> RawSample:
        frame = read_bayer(self.files[item])
        return RawSample(
            clean=clean_planes(frame),
            noisy=None,
            exposure_ratio=None,
            system_gain=None,
            iso=frame.iso,
            camera=self.camera,
            name=self.keys[item],
            **frame_metadata(frame),
        )
