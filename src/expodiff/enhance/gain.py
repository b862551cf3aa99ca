"""The system gain K of a frame: given, from a calibrated camera profile, or estimated blind.

Two scales of K meet here:

* **the file's** (``file_gain``): DN per electron of the raw file itself, whose raw_norm 1 is
  its own ``white - black`` DN (``dn_range``). This is what a camera calibration measures, so
  a user's ``--system-gain`` and a profile's K (ELD's calibrations were measured on each
  camera's own raw DN; ``expodiff calibrate`` measures on the calibration files' DN) are on
  this scale;
* **the model's** (``system_gain``): DN per electron on the model's ``full_scale_dn`` (the
  scale the network was trained on, ``noise.full_scale_dn`` of its config: raw_norm 1 =
  ``full_scale_dn`` DN), so that ``x * full_scale_dn / K`` is the count of photo-electrons
  behind a raw_norm value ``x`` (docs/architecture.md, "Photon bookkeeping").

A raw_norm unit of the file holds ``dn_range / file_gain`` electrons, so
``system_gain = file_gain * full_scale_dn / dn_range`` (:func:`model_scale_gain`). A Canon
EOS 70D file (black 2048, white 15400: range 13352) at a profile K of 13 DN/e gives
``13 * 15583 / 13352 = 15.2`` on the model's scale; taking the profile's K unchanged would let
the model expect 14 % less shot noise than the file has. A packed raw_norm array has no DN
range: its K is on the model's scale. The sources, in the order :func:`resolve_gain` tries
them (:class:`GainSource`):

* ``USER``: a number the user gave (``--system-gain``), DN per electron of the file;
* ``PROFILE``: a calibrated camera profile (a packaged ELD calibration, or a file written by
  ``expodiff calibrate``) at the file's ISO, K linear in ISO (``CameraProfile``), in the
  file's DN, converted to the model's scale with the file's range. The profile is the one the
  user names (``--camera``), or the one matching the file's make and model through
  :data:`CAMERA_ALIASES`;
* ``DARKTABLE``: a camera without a calibrated profile that darktable's installed
  ``noiseprofiles.json`` knows (:mod:`expodiff.enhance.darktable`): its K at the file's ISO is
  a prior good to about 40 %. The image's own estimate (below) is kept when it agrees with
  the prior within :data:`~expodiff.enhance.darktable.DARKTABLE_AGREEMENT`; darktable's K is
  taken when the image cannot be measured or disagrees by more. Either way with a warning;
* ``BLIND``: otherwise, with a warning, the photon-transfer line measured on the frame itself
  (:func:`expodiff.enhance.noiselevel.fit_noise_curve`), clamped to the range of K the model
  was trained on (the clamp is reported).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import torch

from ..errors import ExpodiffError
from ..noise.camera import CameraProfile, ProfileError
from .cameras import CAMERA_ALIASES, camera_key, darktable_key, match_profile
from .darktable import DARKTABLE_AGREEMENT, DarktableCamera, match_darktable
from .noiselevel import fit_noise_curve

__all__ = [
    "CAMERA_ALIASES",
    "GainSource",
    "GainEstimate",
    "camera_key",
    "darktable_key",
    "match_profile",
    "match_darktable",
    "resolve_camera_profile",
    "profile_gain",
    "model_scale_gain",
    "blind_gain",
    "resolve_gain",
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


def resolve_camera_profile(camera: str | Path | CameraProfile) -> CameraProfile:
    """A profile object, a packaged profile name or a profile ``.json`` file.

    Raises:
        ExpodiffError: an unknown name (listing the valid ones) or a bad profile file.
    """
    if isinstance(camera, CameraProfile):
        return camera
    from ..build import resolve_profile

    try:
        return resolve_profile(camera)
    except ProfileError as exc:
        raise ExpodiffError(f"--camera {camera}: {exc}") from None


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


def _scale_note(file_gain: float, dn_range: float | None, full_scale_dn: float) -> str:
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


def _from_file_gain(
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
        detail + _scale_note(file_gain, dn_range, full_scale_dn),
        profile=profile,
        file_gain=None if dn_range is None else float(file_gain),
        dn_range=dn_range,
    )


def _with_darktable(
    blind: GainEstimate,
    darktable: DarktableCamera,
    iso: float,
    full_scale_dn: float,
    dn_range: float | None,
    why: str,
) -> tuple[GainEstimate, str]:
    """The image's K when darktable's prior confirms it (within ``DARKTABLE_AGREEMENT``),
    else darktable's; and the warning that says which and why."""
    prior = darktable.system_gain(iso, full_scale_dn)
    stated = f"darktable's noise profile of {darktable.name} at ISO {iso:g} gives {prior:.3g}"
    low, high = prior / DARKTABLE_AGREEMENT, prior * DARKTABLE_AGREEMENT
    if not blind.clamped and low <= blind.system_gain <= high:
        estimate = GainEstimate(
            blind.system_gain,
            GainSource.BLIND,
            f"{blind.detail}; {stated}, which agrees within x{DARKTABLE_AGREEMENT:g}",
            file_gain=blind.file_gain,
            dn_range=dn_range,
        )
        return estimate, (
            f"{why}: the noise level is estimated from the image (K = {blind.system_gain:.3g}; "
            f"{stated}); give --system-gain or --camera for exact results"
        )
    own = (
        "cannot be measured"
        if blind.clamped
        else f"({blind.system_gain:.3g}) differs by more than x{DARKTABLE_AGREEMENT:g}"
    )
    file_gain = None if dn_range is None else prior * dn_range / float(full_scale_dn)
    estimate = GainEstimate(
        prior,
        GainSource.DARKTABLE,
        f"darktable profile {darktable.name} at ISO {iso:g}; the image's own estimate {own}"
        + ("" if file_gain is None else _scale_note(file_gain, dn_range, full_scale_dn)),
        profile=darktable.name,
        file_gain=file_gain,
        dn_range=dn_range,
    )
    return estimate, (
        f"{why}: K = {prior:.3g} from darktable's noise profile of {darktable.name} (good to "
        f"about 40 %; the image's own estimate {own}); give --system-gain or --camera for "
        "exact results"
    )


def resolve_gain(
    packed_norm: torch.Tensor,
    *,
    full_scale_dn: float,
    gain_range: tuple[float, float],
    system_gain: float | None = None,
    camera: str | Path | CameraProfile | None = None,
    make: str | None = None,
    model: str | None = None,
    iso: float | None = None,
    dn_range: float | None = None,
) -> tuple[GainEstimate, list[str]]:
    """K for a frame, from the first source that applies (see the module docstring).

    Args:
        packed_norm: ``(C, h, w)`` raw_norm of the frame as captured.
        full_scale_dn: the model's DN scale.
        gain_range: (lo, hi) K the model was trained on (model scale).
        system_gain: a K given by the user, DN per electron of the file (of the model's scale
            when there is no ``dn_range``).
        camera: a profile (object, packaged name or .json path) to use instead of matching.
        make, model, iso: the frame's metadata.
        dn_range: the file's ``white - black`` in DN (the mean over the colour planes); None
            for a packed raw_norm array.

    Returns:
        The estimate (``system_gain`` on the model's scale) and the warnings to show the user
        (blind estimate; K outside the trained range).

    Raises:
        ExpodiffError: a bad ``system_gain`` or ``dn_range``, an unknown ``camera``, a
            missing or malformed darktable file named by ``EXPODIFF_DARKTABLE_NOISEPROFILES``.
    """
    lo, hi = gain_range
    if dn_range is not None and not (dn_range > 0 and math.isfinite(dn_range)):
        raise ExpodiffError(f"the raw's white - black must be a positive number, got {dn_range}")
    messages: list[str] = []
    if system_gain is not None:
        if not (system_gain > 0 and math.isfinite(system_gain)):
            raise ExpodiffError(f"system gain must be a positive number, got {system_gain}")
        estimate = _from_file_gain(
            float(system_gain), GainSource.USER, "given", full_scale_dn, dn_range
        )
    else:
        estimate = None
        profile = None
        if camera is not None:
            profile = resolve_camera_profile(camera)
        else:
            name = match_profile(make, model)
            if name is not None:
                profile = resolve_camera_profile(name)
        why = None
        if profile is not None and iso is not None and iso > 0:
            try:
                if dn_range is None:
                    k = profile_gain(profile, iso, full_scale_dn)
                    detail = f"profile {profile.name} at ISO {iso:g}"
                    estimate = GainEstimate(k, GainSource.PROFILE, detail, profile=profile.name)
                else:
                    estimate = _from_file_gain(
                        profile.system_gain_at_iso(iso),
                        GainSource.PROFILE,
                        f"profile {profile.name} at ISO {iso:g}",
                        full_scale_dn,
                        dn_range,
                        profile=profile.name,
                    )
            except ValueError as exc:
                why = f"camera profile {profile.name}: {exc}"
        elif profile is not None:
            why = f"the file has no ISO, so the {profile.name} profile cannot give K"
        else:
            why = f"no calibrated noise profile for {camera_key(make, model) or 'unknown camera'}"
        if estimate is None:
            darktable = None
            if profile is None and camera is None:
                darktable, note = match_darktable(make, model)
                if note:
                    messages.append(note)
            blind = blind_gain(packed_norm, full_scale_dn, gain_range, dn_range)
            if darktable is not None and iso is not None and iso > 0:
                estimate, message = _with_darktable(
                    blind, darktable, float(iso), full_scale_dn, dn_range, why
                )
                messages.append(message)
            else:
                estimate = blind
                found = f"K = {estimate.system_gain:.3g}"
                if estimate.clamped:
                    found += f": {estimate.detail}"
                messages.append(
                    f"{why}: the noise level is estimated from the image ({found}); give "
                    "--system-gain or --camera for exact results"
                )
    if estimate.source is not GainSource.BLIND and not lo <= estimate.system_gain <= hi:
        messages.append(
            f"K = {estimate.system_gain:.3g} DN/e (on the model's scale) is outside the range "
            f"the model was trained on ({lo:g}-{hi:g}); results may be poor"
        )
    return estimate, messages
