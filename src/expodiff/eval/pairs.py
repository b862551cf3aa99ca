"""Evaluation inputs: :class:`EvalPair` and how datasets turn into them.

Real pairs (items with a noisy frame) are used as they are; synthetic items (clean only) get
noise from a noise model at each requested ratio, from a generator seeded by
``(seed, item name, ratio)``, with the system gain K of the item's ISO through the camera
profile (or drawn by the noise model when the item has no ISO). Every method evaluated on
these pairs therefore sees exactly the same inputs, in every run.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from ..errors import ConfigError

__all__ = ["EvalPair", "pairs_from_dataset", "seed_for", "NOMINAL_RATIO_TOLERANCE"]

# A real pair is reported under a nominal ratio (table column) within this relative distance:
# ELD's ratios from ISO x exposure time are within a few percent of 100 / 200.
NOMINAL_RATIO_TOLERANCE = 0.05


def seed_for(*parts: Any) -> int:
    """A stable 31-bit seed from any printable parts (names, ratios, seeds)."""
    return zlib.crc32(repr(parts).encode()) & 0x7FFFFFFF


@dataclass(frozen=True)
class EvalPair:
    """One evaluation input.

    Attributes:
        name: image identifier.
        noisy: ``(1, C, H, W)`` amplified short exposure (raw_norm at reference brightness).
        clean: ``(1, C, H, W)`` reference.
        ratio: the exposure ratio given to the method.
        nominal_ratio: the table column it is reported under (e.g. 100, 250, 300).
        system_gain: K (DN/e-, ``full_scale_dn`` scale).
        read_std: signal-independent noise std in DN (for the BM3D baselines), or None.
        group: table group ("" or, for eld, the camera).
        sample: the dataset item (white balance, colour matrix, CFA for sRGB metrics).
    """

    name: str
    noisy: torch.Tensor
    clean: torch.Tensor
    ratio: float
    nominal_ratio: float
    system_gain: float
    read_std: float | None = None
    group: str = ""
    sample: Any = None


def _nominal(ratio: float, candidates: Sequence[float]) -> float:
    for c in candidates:
        if abs(ratio - c) <= NOMINAL_RATIO_TOLERANCE * c:
            return float(c)
    return float(round(ratio, 1))


def _centre_crop(t: torch.Tensor, size: int | None) -> torch.Tensor:
    if size is None:
        return t
    from ..data.augment import centre_crop_origin

    h, w = t.shape[-2:]
    y, x = centre_crop_origin(h, w, size)
    return t[..., y : y + size, x : x + size]


def _real_pair(
    s: Any,
    clean: torch.Tensor,
    nominal: float,
    crop: int | None,
    device: torch.device,
    group: str,
    read_noise_for: Any,
) -> EvalPair:
    """The pair of a dataset item with a real noisy capture."""
    noisy = _centre_crop(s.noisy, crop)[None].to(device)
    read_std = None
    if read_noise_for is not None and s.iso is not None:
        electrons = read_noise_for(s.camera, float(s.iso))
        # on the pair's scale: its K is the profile's converted with the file's range
        read_std = None if electrons is None else electrons * float(s.system_gain)
    ratio = float(s.exposure_ratio)
    return EvalPair(s.name, noisy, clean, ratio, nominal, float(s.system_gain), read_std, group, s)


def _synthetic_pair(
    s: Any, clean: torch.Tensor, ratio: float, noise_model: Any, seed: int, group: str
) -> EvalPair:
    """A clean item made noisy at ``ratio``, with noise seeded by ``(seed, name, ratio)``;
    the camera's parameters at the item's ISO when it has one, else a random draw."""
    from ..noise.params import read_noise_std

    device = clean.device
    g = torch.Generator(device=device)
    g.manual_seed(seed_for("eval-noise", seed, s.name, ratio))
    if s.iso is not None and hasattr(noise_model, "params_for_iso"):
        params = noise_model.params_for_iso(float(s.iso))
        params = params.to(device) if hasattr(params, "to") else params
    else:
        params = noise_model.sample_params(1, generator=g, device=device)
    pair = noise_model.synthesize(
        clean, ratio=torch.tensor([ratio], device=device), params=params, generator=g
    )
    read_std = read_noise_std(params, 0, getattr(noise_model, "components", None))
    system_gain = float(pair.system_gain.reshape(-1)[0])
    return EvalPair(s.name, pair.noisy, clean, ratio, ratio, system_gain, read_std, group, s)


def pairs_from_dataset(
    dataset: Any,
    *,
    noise_model: Any = None,
    ratios: Sequence[float] = (),
    seed: int = 0,
    max_images: int | None = None,
    device: torch.device | str = "cpu",
    nominal_ratios: Sequence[float] = (),
    crop: int | None = None,
    group_by_camera: bool = False,
    read_noise_for: Any = None,
) -> Iterator[EvalPair]:
    """Evaluation pairs from a dataset's items (draw 0 of each, in order).

    Real pairs (items with ``noisy``) are kept when their nominal ratio (the nearest of
    ``nominal_ratios`` within 5 %) is in ``ratios`` (all when empty). Synthetic items get
    noise at every ratio of ``ratios`` from ``noise_model``, seeded per (seed, item, ratio).
    ``max_images`` caps the images per ratio. ``read_noise_for(camera, iso)`` gives the read
    noise std of real pairs in electrons (for BM3D; times the pair's K it is DN on the pair's
    scale).
    """
    device = torch.device(device)
    counts: dict[float, int] = {}
    ratios = tuple(float(r) for r in ratios)
    nominal_ratios = tuple(nominal_ratios) or ratios

    def full(ratio: float) -> bool:
        return max_images is not None and counts.get(ratio, 0) >= max_images

    for index in range(len(dataset)):
        if max_images is not None and ratios and all(full(r) for r in ratios):
            break
        s = dataset[index]
        group = s.camera if group_by_camera else ""
        clean = _centre_crop(s.clean, crop)[None].to(device)
        if s.noisy is not None:
            nominal = _nominal(float(s.exposure_ratio), nominal_ratios)
            if (ratios and nominal not in ratios) or full(nominal):
                continue
            counts[nominal] = counts.get(nominal, 0) + 1
            yield _real_pair(s, clean, nominal, crop, device, group, read_noise_for)
            continue
        if noise_model is None:
            raise ConfigError(f"{s.name}: a synthetic item needs a noise model")
        for ratio in ratios:
            if full(ratio):
                continue
            counts[ratio] = counts.get(ratio, 0) + 1
            yield _synthetic_pair(s, clean, ratio, noise_model, seed, group)
