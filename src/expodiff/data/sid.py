"""The See-in-the-Dark (SID) Sony dataset in its official layout.

Layout (Chen et al., CVPR 2018)::

    ROOT/Sony/short/10003_00_0.04s.ARW     short exposures (scene _ shot _ exposure time)
    ROOT/Sony/long/10003_00_10s.ARW        long-exposure references

Split lists are text files, one pair per line, in either of the published forms::

    ./Sony/short/00001_00_0.04s.ARW ./Sony/long/00001_00_10s.ARW ISO200 F8   (SID official)
    00001_00_0.04s.ARW 00001_00_10s.ARW                                     (ELD)
    20188_00_0.1s.ARW 20188_00_10s.ARW 100                                  (ELD, with ratio)

Names without a folder are looked up in ``Sony/short`` and ``Sony/long``. The exposure ratio
is ``long / short`` exposure time read from the *file names*, capped at 300 as the SID code
does (``min(long / short, 300)``: 10 s / 0.033 s becomes 300). A list's ratio column, when
present, must agree with it.

Two modes: :class:`SIDPairedDataset` gives real pairs (short frame x ratio, long frame,
K from the short frame's ISO through the camera profile); :class:`SIDSyntheticDataset` gives
each distinct long frame of the list once, as a clean target for synthesised noise.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..defaults import SID_CAMERA
from ..errors import DataError
from .augment import SampleTransform
from .base import RawDataset
from .rawsource import (
    GainForIso,
    clean_planes,
    dn_range,
    frame_metadata,
    read_bayer,
    read_pair,
)
from .types import RawSample

__all__ = [
    "SID_MAX_RATIO",
    "SIDPair",
    "exposure_from_name",
    "sid_exposure_ratio",
    "read_sid_list",
    "SIDPairedDataset",
    "SIDSyntheticDataset",
]

# Chen et al. 2018, Learning-to-See-in-the-Dark train_Sony.py: ratio = min(in/out exposure, 300).
SID_MAX_RATIO = 300.0

_EXPOSURE = re.compile(r"_(\d+(?:\.\d+)?)s$")


@dataclass(frozen=True)
class SIDPair:
    """One line of a split list.

    Attributes:
        short, long: the two files.
        iso: the list's ``ISO<n>`` column, or None.
        line: ``list file:line number`` (for error messages).
    """

    short: Path
    long: Path
    iso: float | None
    line: str


def exposure_from_name(path: str | Path) -> Fraction:
    """Exposure time in seconds from a SID file name (``..._0.04s.ARW`` -> 1/25).

    Raises:
        DataError: the name does not end in ``_<seconds>s.<ext>``.
    """
    stem = Path(path).stem
    match = _EXPOSURE.search(stem)
    if match is None or Fraction(match.group(1)) <= 0:
        raise DataError(f"{path}: no exposure time in the file name (expected ..._<seconds>s.ARW)")
    return Fraction(match.group(1))


def sid_exposure_ratio(short: str | Path, long: str | Path, cap: float = SID_MAX_RATIO) -> float:
    """``min(long / short exposure time, cap)`` from the two file names."""
    return float(min(exposure_from_name(long) / exposure_from_name(short), Fraction(cap)))


def _resolve(root: Path, token: str, folder: str) -> Path:
    if "/" in token or "\\" in token:
        return root / token.replace("\\", "/").removeprefix("./")
    return root / "Sony" / folder / token


def read_sid_list(list_file: str | Path, root: str | Path) -> list[SIDPair]:
    """Parse a SID/ELD split list and check that every file it names exists under ``root``.

    Raises:
        DataError: a missing list or root, a malformed line, a missing file (naming the list
            line and the file), or a ratio column that disagrees with the file names.
    """
    list_path, root = Path(list_file), Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: SID dataset root not found")
    if not list_path.is_file():
        raise DataError(f"{list_path}: split list not found")
    pairs: list[SIDPair] = []
    for number, text in enumerate(list_path.read_text().splitlines(), start=1):
        tokens = text.split()
        if not tokens or tokens[0].startswith("#"):
            continue
        where = f"{list_path}:{number}"
        if len(tokens) < 2:
            raise DataError(
                f"{where}: expected '<short> <long> [ISO<n>|<ratio>] ...', got {text!r}"
            )
        short, long = _resolve(root, tokens[0], "short"), _resolve(root, tokens[1], "long")
        iso = None
        for extra in tokens[2:]:
            if extra.upper().startswith("ISO"):
                try:
                    iso = float(extra[3:])
                except ValueError:
                    raise DataError(f"{where}: bad ISO column {extra!r}") from None
            elif re.fullmatch(r"\d+(\.\d+)?", extra):
                ratio = sid_exposure_ratio(short, long)
                if abs(float(extra) - ratio) > 0.5:
                    raise DataError(
                        f"{where}: list ratio {extra} disagrees with the exposure times in the "
                        f"file names ({ratio:g})"
                    )
        for path in (short, long):
            if not path.is_file():
                raise DataError(f"{where}: file {path} is missing")
        sid_exposure_ratio(short, long)  # both names must carry exposure times
        pairs.append(SIDPair(short, long, iso, where))
    if not pairs:
        raise DataError(f"{list_path}: the split list is empty")
    return pairs


class SIDPairedDataset(RawDataset):
    """Real SID pairs: ``noisy`` = short frame x ratio, ``clean`` = long frame.

    Args:
        root: the folder holding ``Sony/``.
        list_file: a split list (see the module docstring).
        gain_for_iso: K of ``(camera, iso)`` (from the camera profile).
        camera: camera profile name (``"SonyA7S2"`` for SID Sony).
        transform, seed: see :class:`~expodiff.data.base.RawDataset`.
    """

    def __init__(
        self,
        root: str | Path,
        list_file: str | Path,
        *,
        gain_for_iso: GainForIso,
        camera: str = SID_CAMERA,
        transform: SampleTransform | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(transform=transform, seed=seed)
        self.root = Path(root)
        self.pairs = read_sid_list(list_file, root)
        self.gain_for_iso = gain_for_iso
        self.camera = camera

    def __len__(self) -> int:
        return len(self.pairs)

    def item_key(self, item: int) -> str:
        return self.pairs[item].short.name

    def load(self, item: int, rng: np.random.Generator) -> RawSample:
        pair = self.pairs[item]
        short, long = read_pair(pair.short, pair.long, pair.line)
        iso = short.iso if short.iso is not None else pair.iso
        if iso is None:
            raise DataError(f"{pair.short}: no ISO in the file or the list; K is unknown")
        ratio = sid_exposure_ratio(pair.short, pair.long)
        return RawSample(
            clean=clean_planes(long),
            noisy=short.packed_norm() * ratio,
            exposure_ratio=ratio,
            system_gain=float(self.gain_for_iso(self.camera, iso, dn_range(short))),
            iso=iso,
            camera=self.camera,
            name=pair.short.name,
            **frame_metadata(long),
        )


class SIDSyntheticDataset(RawDataset):
    """The distinct long frames of a SID split list, as clean targets (``noisy`` None).

    Args:
        root: the folder holding ``Sony/``.
        list_file: a split list; each long frame is taken once, in order of first mention.
        camera: camera name recorded in the samples.
        transform, seed: see :class:`~expodiff.data.base.RawDataset`.
    """

    def __init__(
        self,
        root: str | Path,
        list_file: str | Path,
        *,
        camera: str = SID_CAMERA,
        transform: SampleTransform | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(transform=transform, seed=seed)
        self.root = Path(root)
        pairs = read_sid_list(list_file, root)
        first_iso: dict[Path, float | None] = {}
        for pair in pairs:
            first_iso.setdefault(pair.long, pair.iso)
        self.frames: list[tuple[Path, float | None]] = list(first_iso.items())
        self.camera = camera

    def __len__(self) -> int:
        return len(self.frames)

    def item_key(self, item: int) -> str:
        return self.frames[item][0].name

    def load(self, item: int, rng: np.random.Generator) -> RawSample:
        path, list_iso = self.frames[item]
        frame = read_bayer(path)
        return RawSample(
            clean=clean_planes(frame),
            noisy=None,
            exposure_ratio=None,
            system_gain=None,
            iso=frame.iso if frame.iso is not None else list_iso,
            camera=self.camera,
            name=path.name,
            **frame_metadata(frame),
        )
