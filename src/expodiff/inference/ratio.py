"""The exposure ratio of a dark frame: from the user, from EXIF, or from its brightness.

Three sources, in the order :func:`resolve_ratio` tries them (:class:`RatioSource`):

* ``USER``: a number the user gave (``--ratio 100``);
* ``EXIF``: with a target exposure ``T`` (seconds; optionally a target ISO, default the
  file's), ``r = T * ISO_target / (t * ISO)`` from the file's exposure time ``t`` and ISO;
* ``BRIGHTNESS``: otherwise, ``r = BRIGHTNESS_TARGET / brightness(input)``, the gain that
  brings the frame to the typical brightness of the model's training references.

The brightness statistic (:func:`raw_brightness`) is a *trimmed block mean* of the packed
raw_norm: the frame is averaged over all channels in blocks of ``BRIGHTNESS_BLOCK`` x
``BRIGHTNESS_BLOCK`` packed pixels (which averages the noise of a dark frame away: its mean is
unbiased, the noise is zero-mean), the brightest ``BRIGHTNESS_TRIM`` of the blocks are dropped
(lamps and specular highlights would otherwise keep a night scene dark), and the rest are
averaged. The statistic is linear in exposure: darkening a frame by ``r`` divides it by ``r``.
Its target, ``BRIGHTNESS_TARGET``, is the same statistic measured on the default model's
training references (CBSD68 + McMaster unprocessed with the SID training-scene metadata and
brightness rule, ``docs/data.md``; ``scripts/brightness_target.py`` re-measures it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum
from fractions import Fraction

import torch
import torch.nn.functional as F

__all__ = [
    "BRIGHTNESS_BLOCK",
    "BRIGHTNESS_TRIM",
    "BRIGHTNESS_TARGET",
    "RatioSource",
    "RatioEstimate",
    "raw_brightness",
    "brightness_ratio",
    "exif_ratio",
]

# Side, in packed pixels, of the blocks the brightness statistic averages over.
BRIGHTNESS_BLOCK = 8
# Fraction of the brightest blocks left out of the brightness statistic.
BRIGHTNESS_TRIM = 0.02
# raw_brightness of the default model's training references: the mean over the 86 CBSD68 +
# McMaster images unprocessed with draw 0 of the training split is 0.1248 (median 0.101,
# range 0.022-0.42; measured by scripts/brightness_target.py).
BRIGHTNESS_TARGET = 0.125


class RatioSource(str, Enum):
    """Where an exposure ratio came from."""

    USER = "user"  # given as a number
    EXIF = "exif"  # target exposure x ISO over the file's exposure time x ISO
    BRIGHTNESS = "brightness"  # trimmed block mean brought to the training brightness


@dataclass(frozen=True)
class RatioEstimate:
    """An exposure ratio and how it was found.

    Attributes:
        ratio: r = reference exposure / input exposure (may be < 1 for an over-exposed input).
        source: :class:`RatioSource`.
        detail: one human-readable line (the numbers behind the ratio).
    """

    ratio: float
    source: RatioSource
    detail: str = ""


def raw_brightness(packed_norm: torch.Tensor) -> float:
    """The trimmed block mean of a packed raw_norm frame (see the module docstring).

    Args:
        packed_norm: ``(C, h, w)`` raw_norm (black 0, white 1), any noise level.

    Returns:
        The statistic, in raw_norm units (may be <= 0 for a black frame).

    Shape:
        packed_norm ``(C, h, w)`` -> a number.
    """
    if packed_norm.dim() != 3 or 0 in packed_norm.shape:
        raise ValueError(f"packed_norm must be a non-empty (C, h, w), got {packed_norm.shape}")
    x = packed_norm.detach().float().mean(dim=0, keepdim=True)[None]  # (1, 1, h, w)
    block = min(BRIGHTNESS_BLOCK, x.shape[-2], x.shape[-1])
    blocks = F.avg_pool2d(x, block).flatten()
    keep = max(1, math.ceil(blocks.numel() * (1.0 - BRIGHTNESS_TRIM)))
    kept = torch.topk(blocks, keep, largest=False, sorted=False).values
    return float(kept.double().mean())


def brightness_ratio(packed_norm: torch.Tensor, target: float = BRIGHTNESS_TARGET) -> RatioEstimate:
    """The ratio that brings :func:`raw_brightness` of the frame to ``target``.

    Args:
        packed_norm: ``(C, h, w)`` raw_norm of the dark frame (not amplified).
        target: the brightness wanted (default: the training references').

    Returns:
        A :class:`RatioEstimate` with source ``BRIGHTNESS``; a frame without any signal
        above black (statistic <= 0) gets ``inf``.
    """
    if not target > 0:
        raise ValueError(f"target brightness must be > 0, got {target}")
    level = raw_brightness(packed_norm)
    ratio = target / level if level > 0 else math.inf
    detail = f"brightness {level:.3g} of raw range, target {target:g}"
    return RatioEstimate(ratio, RatioSource.BRIGHTNESS, detail)


def exif_ratio(
    exposure_time: Fraction | float | None,
    iso: float | None,
    target_exposure: float,
    target_iso: float | None = None,
) -> RatioEstimate | None:
    """``r = T * ISO_target / (t * ISO)``, or None when the file lacks time or ISO.

    Args:
        exposure_time: the input's shutter time ``t`` in seconds (None: unknown).
        iso: the input's ISO (None: unknown; then only a missing ``target_iso`` is usable,
            and the ratio is ``T / t``).
        target_exposure: the wanted exposure time ``T`` in seconds (> 0).
        target_iso: the ISO of the wanted exposure; None: the input's own ISO.

    Returns:
        A :class:`RatioEstimate` with source ``EXIF``, or None when it cannot be computed.
    """
    if not (target_exposure > 0 and math.isfinite(target_exposure)):
        raise ValueError(f"target_exposure must be a positive number, got {target_exposure}")
    if target_iso is not None and not (target_iso > 0 and math.isfinite(target_iso)):
        raise ValueError(f"target_iso must be a positive number, got {target_iso}")
    if exposure_time is None or not float(exposure_time) > 0:
        return None
    t = float(exposure_time)
    if target_iso is None:
        ratio = target_exposure / t
        detail = f"{target_exposure:g} s / {t:.4g} s"
    else:
        if iso is None or not iso > 0:
            return None
        ratio = target_exposure * target_iso / (t * iso)
        detail = f"{target_exposure:g} s x ISO {target_iso:g} / ({t:.4g} s x ISO {iso:g})"
    return RatioEstimate(ratio, RatioSource.EXIF, detail)
