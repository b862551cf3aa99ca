"""A system-gain estimate (:class:`GainEstimate`) and the conversions between a file's DN
scale and the model's, plus the blind estimate from the frame itself
(:func:`blind_gain`); :func:`expodiff.inference.gain.resolve_gain` decides which source applies."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

import torch

from ...noise.camera import CameraProfile
from ._blind import fit_noise_curve

__all__ = [
    "GainSource",
    "GainEstimate",
    "model_scale_gain",
    "profile_gain",
    "scale_note",
    "from_file_gain",
    "blind_gain",
]


class GainSource(str, Enum):
    """Where the system gain K came from."""

    USER = "user"
    PROFILE = "profile"
    DARKTABLE = "darktable"
    BLIND = "blind"


@dataclass(frozen=True)
class GainEstimate:
    """K for one frame and how it was found.

    Attributes:
        system_gain: K, DN per electron on the model's ``full_scale_dn`` scale (what the
            sampler uses).
        source: :class:`GainSource`.
        detail: one human-readable line (profile and ISO, or the fit, and the conversion
            from the file's DN scale when it changes K).
        profile: the camera profile's name (PROFILE only).
        clamped: the blind estimate was outside the trained range and was clamped.
        file_gain: K in DN per electron of the input's own DN (None without a DN range).
        dn_range: the input's ``white - black`` in DN (None for a packed raw_norm array).
    """

    system_gain: float
    source: GainSource
    detail: str = ""
    profile: str | None = None
    clamped: bool = False
    file_gain: float | None = None
    dn_range: float | None = None


def model_scale_gain(file_gain: float, dn_range: float | None, full_scale_dn: float) -> float:
    """K in DN per electron of a file (range ``dn_range`` DN) on the model's scale.

    ``file_gain * full_scale_dn / dn_range``: both describe the same electrons per raw_norm
    unit. ``dn_range`` None (a packed raw_norm array): ``file_gain`` is already on the model's
    scale.

    Raises:
        ValueError: a non-positive ``dn_range``.
    """
    if dn_range is None:
        return float(file_gain)
    if not (dn_range > 0 and math.isfinite(dn_range)):
        raise ValueError(f"the DN range (white - black) must be positive, got {dn_range}")
    return float(file_gain) * float(full_scale_dn) / float(dn_range)


def profile_gain(
    profile: CameraProfile, iso: float, full_scale_dn: float, dn_range: float | None = None
) -> float:
    """K of ``profile`` at ``iso`` on the model's ``full_scale_dn`` scale, for a file whose
    ``white - black`` is ``dn_range`` DN.

    The profile's K is DN per electron of the camera's raw files, so it converts with the
    file's range (:func:`model_scale_gain`). Without a ``dn_range`` the profile's own scale
    stands for the file's (raw_norm 1 = the profile's ``full_scale_dn``).

    Raises:
        ValueError: a non-positive ISO, or a K that extrapolates to <= 0.
    """
    if dn_range is None:
        return profile.rescaled(full_scale_dn).system_gain_at_iso(iso)
    return model_scale_gain(profile.system_gain_at_iso(iso), dn_range, full_scale_dn)


def scale_note(file_gain: float, dn_range: float | None, full_scale_dn: float) -> str:
    """How a file's K became the model's, for the detail line ('' when nothing changed)."""
    if dn_range is None or abs(dn_range - full_scale_dn) < 0.5:
        return ""
    return (
        f"; {file_gain:.3g} DN/e of the file's {dn_range:g}-DN range = "
        f"{model_scale_gain(file_gain, dn_range, full_scale_dn):.3g} on the model's "
        f"{full_scale_dn:g}-DN scale"
    )


def blind_gain(
    packed_norm: torch.Tensor,
    full_scale_dn: float,
    gain_range: tuple[float, float],
    dn_range: float | None = None,
) -> GainEstimate:
    """K from the frame's own photon-transfer line, clamped to ``gain_range``.

    The line is measured in raw_norm, so its slope is K on the model's scale directly
    (``K / full_scale_dn``); the file's K and read noise follow from ``dn_range``.

    Args:
        packed_norm: ``(C, h, w)`` raw_norm of the frame as captured (not amplified).
        full_scale_dn: the model's DN scale.
        gain_range: (lo, hi) K the model was trained on.
        dn_range: the file's ``white - black`` in DN (None: a packed raw_norm array).

    Returns:
        A ``BLIND`` :class:`GainEstimate`; ``clamped`` when the fit fell outside the range or
        could not be made (no measurable signal range: the geometric middle of the range).
    """
    lo, hi = (float(v) for v in gain_range)
    scale = float(full_scale_dn) if dn_range is None else float(dn_range)

    def estimate(k: float, detail: str, clamped: bool) -> GainEstimate:
        file_gain = None if dn_range is None else k * scale / float(full_scale_dn)
        return GainEstimate(
            k, GainSource.BLIND, detail, clamped=clamped, file_gain=file_gain, dn_range=dn_range
        )

    fit = fit_noise_curve(packed_norm)
    if fit is None or not fit.measurable:
        why = "too small a frame" if fit is None else "no measurable signal range"
        detail = f"noise not measurable ({why}); middle of the trained range {lo:g}-{hi:g}"
        return estimate(math.sqrt(lo * hi), detail, True)
    measured = fit.system_gain(full_scale_dn)
    k = min(max(measured, lo), hi)
    clamped = k != measured
    detail = (
        f"estimated from the image ({fit.blocks} flat blocks, read noise "
        f"{fit.read_sigma_dn(scale):.3g} DN)"
    )
    if clamped:
        detail += f"; measured {measured:.3g}, clamped to the trained range {lo:g}-{hi:g}"
    return estimate(k, detail, clamped)


def from_file_gain(
    file_gain: float,
    source: GainSource,
    detail: str,
    full_scale_dn: float,
    dn_range: float | None,
    profile: str | None = None,
) -> GainEstimate:
    """A :class:`GainEstimate` from K in the file's DN (the model's scale without a range)."""
    k = model_scale_gain(file_gain, dn_range, full_scale_dn)
    return GainEstimate(
        k,
        source,
        detail + scale_note(file_gain, dn_range, full_scale_dn),
        profile=profile,
        file_gain=None if dn_range is None else float(file_gain),
        dn_range=dn_range,
    )
