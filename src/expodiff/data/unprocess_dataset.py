"""Clean sRGB image sets -> clean packed raw, with camera metadata of real SID scenes.

:class:`UnprocessDataset` turns each image of one or more folders (``CBSD68``, ``McMaster``,
``Kodak24`` under ``EXPODIFF_DATA/clean``) into a clean packed raw with
:func:`expodiff.data.unprocess.unprocess`. The white balance, colour matrix and ISO come from
one scene of the real SID metadata (``EXPODIFF_DATA/sid_meta/SID_*.info.json``), drawn per
(seed, image, draw) together with the brightness scale, so every sample is reproducible:
draw 0 of an image is the same in every run, which makes a benchmark split (Kodak24 with
the SID *test* scenes) a fixed set. Noise is synthesised later (``noisy`` is None).
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from ..defaults import SID_CAMERA
from ..errors import DataError
from ..raw import CFAPattern
from .augment import SampleTransform, apply_flips
from .base import RawDataset, files_of_folders, list_files
from .types import RawSample, SrgbSample
from .unprocess import (
    BRIGHTNESS_MEAN,
    BRIGHTNESS_RANGE,
    BRIGHTNESS_STD,
    invert_colour_matrix,
    unprocess,
)

__all__ = [
    "SceneMetadata",
    "load_scene_metadata",
    "list_images",
    "read_srgb",
    "read_srgb_array",
    "srgb_tensor",
    "DecodedImages",
    "UnprocessDataset",
    "IMAGE_SUFFIXES",
]

# Clean image files that :func:`read_srgb` reads (8-bit via Pillow; TIFF also 16-bit).
IMAGE_SUFFIXES = (".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp", ".ppm")


@dataclass(frozen=True)
class SceneMetadata:
    """Camera settings of one real scene (an entry of a ``*.info.json`` file).

    Attributes:
        name: the scene's long-exposure name, e.g. ``"00001_00_10s"``.
        iso: ISO of the scene.
        white_balance: as-shot gains (R, Gr, B, Gb), green = 1.
        colour_matrix: ``(3, 3)`` camera RGB -> linear sRGB.
    """

    name: str
    iso: float
    white_balance: tuple[float, float, float, float]
    colour_matrix: tuple[tuple[float, float, float], ...]


def load_scene_metadata(path: str | Path) -> list[SceneMetadata]:
    """Read a SID/PMN ``*.info.json`` list (keys ``name``, ``ISO``, ``wb``, ``ccm``).

    Raises:
        DataError: missing or unreadable file, no entries, or an entry without the keys.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: scene metadata file not found")
    try:
        entries = json.loads(p.read_text())
    except (OSError, ValueError) as exc:
        raise DataError(f"{p}: not a readable JSON metadata list ({exc})") from None
    if not isinstance(entries, list) or not entries:
        raise DataError(f"{p}: expected a non-empty JSON list of scenes")
    scenes = []
    for i, entry in enumerate(entries):
        try:
            wb = tuple(float(v) for v in entry["wb"])
            ccm = tuple(tuple(float(v) for v in row) for row in entry["ccm"])
            scene = SceneMetadata(str(entry["name"]), float(entry["ISO"]), wb, ccm)  # type: ignore[arg-type]
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"{p}: entry {i} lacks name/ISO/wb/ccm ({exc!r})") from None
        if len(wb) != 4 or len(ccm) != 3 or any(len(r) != 3 for r in ccm):
            raise DataError(f"{p}: entry {i} needs 4 wb gains and a 3x3 ccm")
        scenes.append(scene)
    return scenes


def list_images(folder: Path) -> list[Path]:
    """Image files of ``folder`` (not recursive, by :data:`IMAGE_SUFFIXES`), sorted by name.

    Raises:
        DataError: the folder is missing or holds no image.
    """
    return list_files(folder, IMAGE_SUFFIXES, "image")


def read_srgb_array(path: Path) -> np.ndarray:
    """Decode an sRGB image file as its stored ``(H, W, 3)`` uint8 (or 16-bit TIFF uint16)
    array, without converting it: the cheap form to keep in memory (:class:`DecodedImages`).

    8-bit images of any Pillow mode (grey and palette images are expanded to RGB, alpha is
    dropped); TIFF files may also be 16-bit. Raises :class:`DataError` naming the file.
    """
    try:
        if path.suffix.lower() in (".tif", ".tiff"):
            import tifffile

            array = tifffile.imread(path)
        else:
            from PIL import Image

            with Image.open(path) as image:
                array = np.asarray(image.convert("RGB"))
    except Exception as exc:  # any decoder failure means a bad input file
        raise DataError(f"{path}: cannot read image ({exc})") from None
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=-1)
    if array.ndim != 3 or array.shape[-1] not in (3, 4):
        raise DataError(f"{path}: expected an RGB image, got array shape {array.shape}")
    if array.dtype not in (np.uint8, np.uint16):
        raise DataError(f"{path}: unsupported sample type {array.dtype} (8 or 16-bit)")
    return np.ascontiguousarray(array[..., :3])


def srgb_tensor(array: np.ndarray) -> torch.Tensor:
    """``(H, W, 3)`` uint8/uint16 -> ``(3, H, W)`` float32 in [0, 1]."""
    scale = 255.0 if array.dtype == np.uint8 else 65535.0
    return torch.from_numpy(np.array(array)).permute(2, 0, 1).float() / scale


def _crop_tensor(crop: np.ndarray) -> torch.Tensor:
    """``(H, W, 3)`` crop -> ``(3, H, W)``: uint8 as it is, 16-bit as float32 in [0, 1]."""
    if crop.dtype == np.uint8:
        return torch.from_numpy(np.array(crop)).permute(2, 0, 1).contiguous()
    return srgb_tensor(crop)


def read_srgb(path: Path) -> torch.Tensor:
    """Read an sRGB image as ``(3, H, W)`` float32 in [0, 1] (:func:`read_srgb_array`)."""
    return srgb_tensor(read_srgb_array(path))


class DecodedImages:
    """Decoded images kept in memory, least recently used dropped first, up to a byte budget.

    Decoding a multi-megapixel JPEG costs far more than unprocessing a 256 x 256 crop of it,
    so a training run that crops many patches from the same photographs decodes each file
    once per process (each DataLoader worker holds its own cache). ``max_bytes`` 0: no cache.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = int(max_bytes)
        self.used = 0
        self.images: OrderedDict[Path, np.ndarray] = OrderedDict()

    def get(self, path: Path) -> np.ndarray:
        cached = self.images.get(path)
        if cached is not None:
            self.images.move_to_end(path)
            return cached
        array = read_srgb_array(path)
        if 0 < array.nbytes <= self.max_bytes:
            while self.used + array.nbytes > self.max_bytes:
                _, dropped = self.images.popitem(last=False)
                self.used -= dropped.nbytes
            self.images[path] = array
            self.used += array.nbytes
        return array


class UnprocessDataset(RawDataset):
    """Clean sRGB images unprocessed to packed raw with real SID camera metadata.

    Args:
        folders: image folders; an item's name is ``<folder name>/<file name>``.
        scenes: camera metadata to draw from (one scene per sample, uniformly).
        camera: camera name recorded in the samples (the source of ``scenes``).
        cfa: the Bayer layout to mosaic in.
        transform: crop / augmentation.
        seed: base seed (with the item name and draw, fixes the scene, brightness and crop).
        decode_cache_mb: keep up to this many MB of decoded images in memory per process
            (:class:`DecodedImages`; 0: decode every time). Samples are identical either way.
        wb_jitter: illuminant augmentation. Each sample's R and B white-balance gains are
            multiplied by independent factors log-uniform in ``[1 / wb_jitter, wb_jitter]``,
            so the raw colour balance covers more illuminants (tungsten scenes, where raw red
            exceeds green) and sensors than the SID scenes alone. 1 (default) draws nothing,
            leaving every sample exactly as without it.
        defer_unprocess: crops come out as :class:`~expodiff.data.types.SrgbSample` (the
            sRGB crop and the settings drawn for it), to be unprocessed batched on the
            training device (``data.unprocess_on_device``; :meth:`SrgbBatch.unprocess`):
            the same values as the crops of this dataset without it, up to float rounding.
            Only crops (a transform with a window) are deferred; :meth:`load` is unchanged.
    """

    random_source = True

    def __init__(
        self,
        folders: Sequence[str | Path],
        scenes: Sequence[SceneMetadata],
        *,
        camera: str = SID_CAMERA,
        cfa: CFAPattern = CFAPattern.RGGB,
        transform: SampleTransform | None = None,
        seed: int = 0,
        wb_jitter: float = 1.0,
        decode_cache_mb: int = 0,
        defer_unprocess: bool = False,
    ) -> None:
        super().__init__(transform=transform, seed=seed)
        self.defer_unprocess = bool(defer_unprocess)
        if decode_cache_mb < 0:
            raise ValueError(f"decode_cache_mb must be >= 0, got {decode_cache_mb}")
        self.decoded = DecodedImages(int(decode_cache_mb) * 2**20)
        if not folders:
            raise DataError("no image folders given for the unprocess dataset")
        if not wb_jitter >= 1.0:
            raise ValueError(f"wb_jitter must be >= 1, got {wb_jitter}")
        self.wb_jitter = float(wb_jitter)
        if not scenes:
            raise DataError("no scene metadata to draw camera settings from")
        if not cfa.is_bayer:
            raise DataError(f"unprocessing supports Bayer sensors only, got {cfa.value}")
        self.files, self.keys = files_of_folders(folders, list_images)
        self.scenes = list(scenes)
        if self.defer_unprocess:  # the training loop cannot name a file: check scenes here
            for scene in self.scenes:
                try:
                    invert_colour_matrix(scene.colour_matrix)
                except ValueError as exc:
                    raise DataError(f"scene {scene.name}: {exc}") from None
        self.camera = camera
        self.cfa = cfa

    def __len__(self) -> int:
        return len(self.files)

    def item_key(self, item: int) -> str:
        return self.keys[item]

    def draw_settings(self, rng: np.random.Generator) -> tuple[SceneMetadata, float]:
        """The scene and brightness scale of one sample (the documented brightness rule)."""
        scene = self.scenes[int(rng.integers(0, len(self.scenes)))]
        brightness = float(np.clip(rng.normal(BRIGHTNESS_MEAN, BRIGHTNESS_STD), *BRIGHTNESS_RANGE))
        if self.wb_jitter > 1.0:
            span = np.log(self.wb_jitter)
            red, blue = np.exp(rng.uniform(-span, span, size=2))
            r_gain, gr_gain, b_gain, gb_gain = scene.white_balance
            scene = replace(
                scene,
                white_balance=(r_gain * float(red), gr_gain, b_gain * float(blue), gb_gain),
            )
        return scene, brightness

    def load(self, item: int, rng: np.random.Generator) -> RawSample:
        scene, brightness = self.draw_settings(rng)
        return self._unprocess(
            item, srgb_tensor(self.decoded.get(self.files[item])), scene, brightness
        )

    def load_transformed(self, item: int, rng: np.random.Generator) -> RawSample | SrgbSample:
        """Crop the sRGB image *before* unprocessing (every step but the mosaic is per pixel,
        and a crop at even sRGB offsets keeps the mosaic phase): the sample of ``load``
        followed by the transform, up to float rounding (the per-pixel power and colour
        matrix run over other sizes, which vectorised kernels round differently), at a
        fraction of the cost for small crops."""
        scene, brightness = self.draw_settings(rng)
        image = self.decoded.get(self.files[item])  # (H, W, 3), as stored
        try:
            y, x, h, w = self.transform.window(image.shape[0] // 2, image.shape[1] // 2, rng)
        except ValueError as exc:
            raise DataError(f"{self.keys[item]}: {exc}") from None
        crop = image[2 * y : 2 * (y + h), 2 * x : 2 * (x + w)]
        if self.defer_unprocess:
            return self._deferred(item, crop, scene, brightness, self.transform.flips(rng))
        # Only the crop is converted; 8-bit codes are linearised by table.
        sample = self._unprocess(item, _crop_tensor(crop), scene, brightness)
        return replace(sample, clean=apply_flips(sample.clean, self.transform.flips(rng)))

    def _deferred(
        self, item: int, crop: np.ndarray, scene: SceneMetadata, brightness: float, flips
    ) -> SrgbSample:
        return SrgbSample(
            srgb=_crop_tensor(crop),  # 8-bit crops travel as bytes: 4x less to copy
            brightness=brightness,
            flips=(flips.vertical, flips.horizontal, flips.transpose),
            iso=scene.iso,
            camera=self.camera,
            name=self.keys[item],
            white_balance=scene.white_balance,
            colour_matrix=scene.colour_matrix,
            cfa=self.cfa,
        )

    def _unprocess(
        self, item: int, srgb: torch.Tensor, scene: SceneMetadata, brightness: float
    ) -> RawSample:
        try:
            packed = unprocess(
                srgb,
                colour_matrix=scene.colour_matrix,
                white_balance=scene.white_balance,
                brightness=brightness,
                cfa=self.cfa,
            )
        except ValueError as exc:
            raise DataError(f"{self.files[item]}: {exc}") from None
        return RawSample(
            clean=packed,
            noisy=None,
            exposure_ratio=None,
            system_gain=None,
            iso=scene.iso,
            camera=self.camera,
            name=self.keys[item],
            white_balance=scene.white_balance,
            colour_matrix=scene.colour_matrix,
            cfa=self.cfa,
        )
