"""Tiny SID / ELD / clean-raw trees laid out exactly like the real datasets.

LibRaw refuses frames under 22 photosites a side, so the trees use at least 24. Raw files
are DNGs written by :func:`expodiff.io.dng.write_dng` and stored under the real
names (``Sony/short/10003_00_0.04s.ARW``): LibRaw reads by content, not by extension. Every
file carries the real metadata the loaders need (ISO, exposure time, white balance).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from expodiff.io.dng import write_dng
from expodiff.raw import CFAPattern
from expodiff.sensor import SensorSpec

SONY_BLACK, SONY_WHITE = 512, 16383
SONY_WB = (2.0, 1.0, 1.6, 1.0)


def write_raw(
    path: Path,
    mosaic_dn: np.ndarray,
    *,
    iso: float | None,
    exposure_time: Fraction | None,
    black: int = SONY_BLACK,
    white: int = SONY_WHITE,
    cfa: CFAPattern = CFAPattern.RGGB,
    white_balance=SONY_WB,
    make: str = "Sony",
    model: str = "ILCE-7SM2",
) -> Path:
    """Write ``mosaic_dn`` as a DNG stored under ``path`` (any extension)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".dng")
    write_dng(
        tmp,
        mosaic_dn,
        SensorSpec.uniform(black, white, cfa),
        white_balance=white_balance,
        make=make,
        model=model,
        iso=iso,
        exposure_time=exposure_time,
        overwrite=True,
    )
    os.replace(tmp, path)
    return path


def scene_norm(height: int, width: int, seed: int) -> np.ndarray:
    """A smooth, non-symmetric (H, W) raw_norm scene in [0.05, 0.9]."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    a, b = rng.uniform(1, 4, size=2)
    return 0.05 + 0.85 * (0.5 + 0.5 * np.sin(a * x + b * y * y + seed)) * (0.3 + 0.7 * x)


def to_dn(norm: np.ndarray, black: int = SONY_BLACK, white: int = SONY_WHITE) -> np.ndarray:
    return np.clip(np.round(norm * (white - black) + black), 0, white).astype(np.uint16)


@dataclass
class SIDTree:
    root: Path
    official_list: Path  # ./Sony/short/... ./Sony/long/... ISO200 F9
    eld_list: Path  # bare names
    ratio_list: Path  # bare names + ratio column
    # short name -> (long name, ratio, ISO)
    pairs: dict[str, tuple[str, float, float]] = field(default_factory=dict)


# (short exposure, long exposure, ISO) per SID pair of the tiny tree.
SID_PAIRS = {
    "10003_00_0.04s.ARW": ("10003_00_10s.ARW", 250.0, 200),
    "10003_00_0.1s.ARW": ("10003_00_10s.ARW", 100.0, 200),
    "10003_01_0.033s.ARW": ("10003_00_10s.ARW", 300.0, 200),  # 303 capped at 300
    "10006_00_0.1s.ARW": ("10006_00_30s.ARW", 300.0, 1600),
}


def make_sid_tree(root: Path, height: int = 32, width: int = 48) -> SIDTree:
    """``root/Sony/{short,long}`` with 2 scenes, 4 pairs, and three list files."""
    tree = SIDTree(root, root / "official.txt", root / "eld.txt", root / "ratio.txt")
    longs = {}
    for i, long_name in enumerate(sorted({v[0] for v in SID_PAIRS.values()})):
        norm = scene_norm(height, width, seed=i)
        longs[long_name] = norm
        iso = next(v[2] for v in SID_PAIRS.values() if v[0] == long_name)
        seconds = Fraction(long_name.rsplit("_", 1)[1][:-5])
        write_raw(root / "Sony" / "long" / long_name, to_dn(norm), iso=iso, exposure_time=seconds)
    rng = np.random.default_rng(7)
    official, eld, with_ratio = [], [], []
    for short_name, (long_name, ratio, iso) in SID_PAIRS.items():
        seconds = Fraction(short_name.rsplit("_", 1)[1][:-5])
        real_ratio = float(Fraction(long_name.rsplit("_", 1)[1][:-5]) / seconds)
        short = longs[long_name] / real_ratio + rng.normal(0, 0.002, size=(height, width))
        write_raw(
            root / "Sony" / "short" / short_name, to_dn(short), iso=iso, exposure_time=seconds
        )
        official.append(f"./Sony/short/{short_name} ./Sony/long/{long_name} ISO{iso} F9")
        eld.append(f"{short_name} {long_name}")
        with_ratio.append(f"{short_name} {long_name} {int(ratio)}")
        tree.pairs[short_name] = (long_name, ratio, float(iso))
    tree.official_list.write_text("\n".join(official) + "\n")
    tree.eld_list.write_text("\n".join(eld) + "\n")
    tree.ratio_list.write_text("\n".join(with_ratio) + "\n")
    return tree


# ELD frame plan of one scene: id -> (ISO, exposure time). References 1, 6, 11, 16 at ISO 100
# and 4 s; inputs at ISO 800 / 1600 / 3200 with exposure 1/100 and 1/200 of the reference's
# ISO x time (the real ELD plan, from sid_meta/ELD_SonyA7S2.info.json).
ELD_PLAN: dict[int, tuple[float, Fraction]] = {}
for _ref, _iso in ((1, 800), (6, 1600), (11, 3200)):
    ELD_PLAN[_ref] = (100.0, Fraction(4))
    ELD_PLAN[_ref + 1] = (float(_iso), Fraction(400, _iso))  # ratio 1
    ELD_PLAN[_ref + 2] = (float(_iso), Fraction(40, _iso))  # ratio 10
    ELD_PLAN[_ref + 3] = (float(_iso), Fraction(4, _iso))  # ratio 100
    ELD_PLAN[_ref + 4] = (float(_iso), Fraction(2, _iso))  # ratio 200
ELD_PLAN[16] = (100.0, Fraction(4))


def make_eld_tree(
    root: Path,
    camera: str = "SonyA7S2",
    scenes: tuple[int, ...] = (1, 2),
    height: int = 24,
    width: int = 32,
    suffix: str = ".ARW",
) -> Path:
    """``root/<camera>/scene-k/IMG_0001.ARW ... IMG_0016.ARW`` for each scene."""
    for scene in scenes:
        norm = scene_norm(height, width, seed=100 + scene)
        for image_id, (iso, seconds) in ELD_PLAN.items():
            ratio = float(Fraction(400) / (iso * seconds))
            path = root / camera / f"scene-{scene}" / f"IMG_{image_id:04d}{suffix}"
            write_raw(path, to_dn(norm / ratio), iso=iso, exposure_time=seconds)
    return root
