"""The held-out evaluation protocol: dark DNGs of photographs no model was trained on.

Real photographs (``clean/Photos``, the part the package holds back from training) are
unprocessed to clean raw frames and darkened with the calibrated noise of real cameras into
DNG files (:func:`build_set`); :mod:`expodiff.eval.heldout_methods` measures a model through
:func:`expodiff.enhance` and the baselines on them. ``benchmarks/heldout.py`` is the driver
(caching, the report).

* **Images**: :data:`IMAGES` (the held-out photos), centre crop of ``crop`` sRGB pixels (=
  mosaic pixels).
* **Clean raw**: :func:`expodiff.data.unprocess.unprocess` with the white balance and colour
  matrix of the SID *test* scenes shot at ISO 800-1600 (:data:`SCENE_ISO_RANGE`; the image of
  index i takes scene ``i mod 4``) and a brightness drawn by the training rule seeded by the
  image name; RGGB, on each camera profile's DN levels; written as a 16-bit DNG and read back,
  so the reference is exactly what was darkened.
* **Dark DNGs**: :func:`expodiff.inference.darken.darken_frame` (the code of ``expodiff
  darken``) of the clean DNG at each condition's camera, ISO and ratio, seed
  :func:`file_seed` (CRC-32 of the file name); ELD noise without the colour bias
  (``bias-free``) or with it (``biased``). Condition ISO ``"scene"``: the ISO of the image's
  SID scene.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from ..errors import DataError

__all__ = [
    "IMAGES", "CONDITIONS", "GROUPS", "VARIANTS", "Condition", "HeldoutFile", "photo_parts",
    "check_heldout_split", "file_seed", "scenes", "scene_for", "brightness", "photos_dir",
    "set_dir", "build_set",
]  # fmt: skip

# The held-out photos (file names in $EXPODIFF_DATA/clean/Photos), in the order a limit takes
# them: photos the package holds back from training (expodiff.data.base's split of Photos
# into train / val / test); first those without the JPEG blocking noted in SOURCES.tsv.
IMAGES: tuple[str, ...] = (
    "budgie_abstract-spiral.jpg",  # abstract, smooth gradients
    "budgie_piazza-gae-aulenti.jpg",  # city, architecture
    "enlightenment_Flower_Petals.jpg",  # macro, flower
    "enlightenment_Mossstring.jpg",  # texture, green
    "enlightenment_Windy_Palm.jpg",  # plant, sky
    "lxqt-themes_Valendas.jpg",  # village landscape
    "palapeli_panther-chameleon-female.jpg",  # animal, fine detail
    "plasma_summer_1am.jpg",  # night, low key
    "enlightenment_Shady_Leaves.jpg",  # leaves (source had JPEG blocking, downscaled 2x)
    "lomiri-16.04_Wine_by_Jakkub_Mede.jpg",  # still life (idem)
    "mate_Aqua.jpg",  # water (idem)
)

SCENE_META = "sid_meta/SID_test.info.json"
SCENE_ISO_RANGE = (800, 1600)  # the SID test scenes whose metadata the photos borrow


@dataclass(frozen=True)
class Condition:
    """One way of darkening: a group of the report, a camera profile, an ISO and a ratio."""

    group: str
    camera: str
    iso: int | str  # an ISO, or "scene": the ISO of the image's SID scene
    ratio: int


CONDITIONS: tuple[Condition, ...] = (
    Condition("moderate", "SonyA7S2", "scene", 100),
    Condition("moderate", "SonyA7S2", "scene", 200),
    Condition("moderate", "SonyA7S2", "scene", 300),
    Condition("moderate", "NikonD850", 1600, 100),
    Condition("harsh", "SonyA7S2", 6400, 100),
    Condition("harsh", "SonyA7S2", 6400, 300),
    Condition("harsh", "NikonD850", 3200, 200),
    Condition("harsh", "CanonEOS70D", 1600, 100),
    Condition("harsh", "CanonEOS70D", 6400, 200),
)
GROUPS = ("moderate", "harsh")


@dataclass(frozen=True)
class HeldoutFile:
    """One dark DNG of the set and its clean reference."""

    name: str  # file stem
    image: str
    condition: Condition
    iso: int
    dark: Path
    clean: Path
    seed: int


def photo_parts(photos: Path) -> dict[str, str]:
    """The part (train / val / test) of every photo of ``photos``, as the package splits it."""
    from ..data.base import list_files, set_part_of_index
    from ..data.unprocess_dataset import IMAGE_SUFFIXES

    listed = list_files(photos, IMAGE_SUFFIXES, "image")
    return {p.name: set_part_of_index(i) for i, p in enumerate(listed)}


def check_heldout_split(images: Sequence[str], photos: Path, part: str) -> None:
    """Refuse images outside the ``Photos:PART`` part (``train`` photos are trained on)."""
    parts = photo_parts(photos)
    bad = sorted(i for i in images if parts.get(i) != part)
    if bad:
        raise DataError(f"{', '.join(bad)} are not of Photos:{part}")


def file_seed(name: str) -> int:
    """Seed of a dark file's noise: CRC-32 of its name (stable across runs and machines)."""
    return zlib.crc32(name.encode())


def _stem(image: str) -> str:
    return Path(image).stem


def scenes(data_root: Path) -> list[dict]:
    """The SID test scenes (metadata) of :data:`SCENE_ISO_RANGE`, by name."""
    entries = json.loads((data_root / SCENE_META).read_text())
    lo, hi = SCENE_ISO_RANGE
    chosen = sorted((e for e in entries if lo <= e["ISO"] <= hi), key=lambda e: e["name"])
    if not chosen:
        raise DataError(f"{SCENE_META}: no scene of ISO {lo}-{hi}")
    return chosen


def scene_for(image: str, scene_list: Sequence[dict], order: Sequence[str] = IMAGES) -> dict:
    """The SID scene whose metadata a photo takes: scene ``i mod len`` for the i-th photo of
    ``order`` (the photo list in use), else by the photo's :func:`file_seed`."""
    i = list(order).index(image) if image in order else file_seed(image)
    return scene_list[i % len(scene_list)]


def brightness(image: str) -> float:
    """The photo's brightness, drawn by the training rule seeded by its name."""
    import torch

    from ..data.unprocess import BRIGHTNESS_MEAN, BRIGHTNESS_RANGE, BRIGHTNESS_STD

    g = torch.Generator().manual_seed(file_seed("brightness:" + image))
    value = BRIGHTNESS_MEAN + BRIGHTNESS_STD * float(torch.randn(1, generator=g))
    return min(max(value, BRIGHTNESS_RANGE[0]), BRIGHTNESS_RANGE[1])


def _centre_crop_srgb(path: Path, crop: tuple[int, int]):
    import numpy as np
    import torch
    from PIL import Image

    w, h = crop
    with Image.open(path) as im:
        rgb = np.asarray(im.convert("RGB"))
    H, W = rgb.shape[:2]
    if W < w or H < h:
        raise DataError(f"{path}: {W} x {H} pixels, smaller than the crop {w} x {h}")
    x0, y0 = ((W - w) // 2) // 2 * 2, ((H - h) // 2) // 2 * 2
    window = rgb[y0 : y0 + h, x0 : x0 + w]
    return torch.from_numpy(np.ascontiguousarray(window)).permute(2, 0, 1).float() / 255.0


def unprocessed_frame(
    srgb,
    profile,
    *,
    colour_matrix,
    white_balance,
    iso: float,
    brightness: float = 1.0,
    model: str = "unprocessed photo",
    exposure_time: Fraction | None = None,
):
    """A clean RGGB :class:`~expodiff.io.frame.RawFrame` of an sRGB image ``(3, H, W)``,
    unprocessed with a camera's colour matrix and white balance onto ``profile``'s levels."""
    import numpy as np

    from ..data.unprocess import unprocess
    from ..io.frame import frame_from_mosaic
    from ..raw import CFAPattern, unpack
    from ..sensor import SensorSpec

    cfa = CFAPattern.RGGB
    packed = unprocess(
        srgb,
        colour_matrix=colour_matrix,
        white_balance=white_balance,
        brightness=brightness,
        cfa=cfa,
    )
    sensor = SensorSpec.uniform(profile.black_level, profile.white_level, cfa)
    mosaic = sensor.denormalize_mosaic(unpack(packed, cfa)).numpy()
    mosaic = np.clip(np.rint(mosaic), 0, sensor.white_level).astype(np.uint16)
    return frame_from_mosaic(
        mosaic,
        sensor,
        white_balance=tuple(white_balance),
        colour_matrix=np.asarray(colour_matrix, dtype=np.float64),
        make="expodiff",
        model=model,
        iso=float(iso),
        exposure_time=exposure_time,
    )


def make_clean(image: str, scene: dict, profile, crop: tuple[int, int], path: Path) -> None:
    """Unprocess a photo's centre crop to a clean 16-bit DNG on ``profile``'s levels."""
    from ..io.dng import write_frame_dng

    frame = unprocessed_frame(
        _centre_crop_srgb(photos_dir() / image, crop),
        profile,
        colour_matrix=scene["ccm"],
        white_balance=scene["wb"],
        brightness=brightness(image),
        iso=float(scene["ISO"]),
        exposure_time=Fraction(1, 1),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    write_frame_dng(path, frame, overwrite=True)


def photos_dir() -> Path:
    """``$EXPODIFF_DATA/clean/Photos``."""
    from ..paths import data_root

    return data_root() / "clean" / "Photos"


# How the dark files are made: "bias-free" darkens with ELD noise without the colour bias (the
# black level of the file is the true one); "biased" adds ELD's per-channel black-level error,
# which the learned models were trained to remove and the baselines are given (bias_dn).
VARIANTS = ("bias-free", "biased")


def set_dir(workdir: Path, crop: tuple[int, int], variant: str) -> Path:
    """The folder of one variant's files (``set-WxH`` for the biased one)."""
    tag = "" if variant == "biased" else f"{variant}-"
    return workdir / f"set-{tag}{crop[0]}x{crop[1]}"


def build_set(
    workdir: Path,
    images: Sequence[str],
    conditions: Sequence[Condition],
    crop: tuple[int, int],
    log=print,
    variant: str = "bias-free",
    order: Sequence[str] = IMAGES,
) -> list[HeldoutFile]:
    """The dark DNGs and clean references (made when missing, else reused)."""
    import torch

    from ..inference.darken import darken_frame
    from ..inference.gain import resolve_camera_profile
    from ..io.dng import write_frame_dng
    from ..io.rawio import read_raw
    from ..kinds import NoisePreset
    from ..paths import data_root

    base = set_dir(workdir, crop, variant)
    preset = NoisePreset.ELD_BIAS if variant == "biased" else NoisePreset.ELD
    scene_list = scenes(data_root())
    files: list[HeldoutFile] = []
    made = 0
    for image in images:
        scene = scene_for(image, scene_list, order)
        for cond in conditions:
            profile = resolve_camera_profile(cond.camera)
            iso = int(scene["ISO"]) if cond.iso == "scene" else int(cond.iso)
            name = f"{_stem(image)}__{cond.camera}-iso{iso}-x{cond.ratio}"
            clean = base / "clean" / f"{_stem(image)}__{cond.camera}.dng"
            dark = base / "dark" / f"{name}.dng"
            seed = file_seed(name)
            if not clean.is_file():
                make_clean(image, scene, profile, crop, clean)
            if not dark.is_file():
                frame = darken_frame(
                    read_raw(clean),
                    ratio=cond.ratio,
                    profile=profile,
                    iso=iso,
                    preset=preset,
                    generator=torch.Generator().manual_seed(seed),
                )
                dark.parent.mkdir(parents=True, exist_ok=True)
                write_frame_dng(dark, frame, overwrite=True)
                made += 1
            files.append(HeldoutFile(name, image, cond, iso, dark, clean, seed))
    log(f"heldout: {len(files)} dark DNGs in {base} ({made} made now)")
    return files
