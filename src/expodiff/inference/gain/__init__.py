"""The noise level of a file: its system gain K, given, from a calibrated camera profile, or
estimated blind. :func:`resolve_gain` is the one entry point; the private modules are its
helpers (``_estimate``: the result and the DN-scale conversions; ``_blind``: the fit on the
frame itself; ``_darktable``: darktable's installed profiles; ``_cameras``: camera names).

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
  ``noiseprofiles.json`` knows (:mod:`~expodiff.inference.gain._darktable`): its K at the
  file's ISO is a prior good to about 40 %. The image's own estimate (below) is kept when it
  agrees with the prior within ``DARKTABLE_AGREEMENT``; darktable's K is taken when the image
  cannot be measured or disagrees by more. Either way with a warning;
* ``BLIND``: otherwise, with a warning, the photon-transfer line measured on the frame itself
  (:func:`~expodiff.inference.gain._blind.fit_noise_curve`), clamped to the range of K the model
  was trained on (the clamp is reported).
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from ...errors import ExpodiffError
from ...noise.camera import CameraProfile, ProfileError
from ._cameras import camera_key, match_profile
from ._darktable import DARKTABLE_AGREEMENT, DarktableCamera, match_darktable
from ._estimate import (
    GainEstimate,
    GainSource,
    blind_gain,
    from_file_gain,
    profile_gain,
    scale_note,
)

__all__ = ["GainSource", "GainEstimate", "resolve_gain", "resolve_camera_profile"]


def resolve_camera_profile(camera: str | Path | CameraProfile) -> CameraProfile:
    """A profile object, a packaged profile name or a profile ``.json`` file.

    Raises:
        ExpodiffError: an unknown name (listing the valid ones) or a bad profile file.
    """
    if isinstance(camera, CameraProfile):
        return camera
    from ...build import resolve_profile

    try:
        return resolve_profile(camera)
    except ProfileError as exc:
        raise ExpodiffError(f"--camera {camera}: {exc}") from None


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
        + ("" if file_gain is None else scale_note(file_gain, dn_range, full_scale_dn)),
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
        estimate = from_file_gain(
            float(system_gain), GainSource.USER, "given", full_scale_dn, dn_range
        )
    else:
        profile = _profile_for(camera, make, model)
        estimate, why = _profile_estimate(profile, iso, full_scale_dn, dn_range)
        if estimate is None:
            why = (
                why
                or f"no calibrated noise profile for {camera_key(make, model) or 'unknown camera'}"
            )
            use_darktable = profile is None and camera is None
            estimate = _estimate_from_image(
                packed_norm, full_scale_dn, gain_range, dn_range, make, model, iso, why,
                use_darktable, messages,
            )  # fmt: skip
    if estimate.source is not GainSource.BLIND and not lo <= estimate.system_gain <= hi:
        messages.append(
            f"K = {estimate.system_gain:.3g} DN/e (on the model's scale) is outside the range "
            f"the model was trained on ({lo:g}-{hi:g}); results may be poor"
        )
    return estimate, messages


def _profile_for(
    camera: str | Path | CameraProfile | None, make: str | None, model: str | None
) -> CameraProfile | None:
    """The profile named by the user, else the packaged one matching the file's camera."""
    if camera is not None:
        return resolve_camera_profile(camera)
    name = match_profile(make, model)
    return resolve_camera_profile(name) if name is not None else None


def _profile_estimate(
    profile: CameraProfile | None,
    iso: float | None,
    full_scale_dn: float,
    dn_range: float | None,
) -> tuple[GainEstimate | None, str | None]:
    """K of ``profile`` at ``iso`` on the model's scale, or ``(None, why not)``."""
    if profile is None:
        return None, None
    if iso is None or not iso > 0:
        return None, f"the file has no ISO, so the {profile.name} profile cannot give K"
    detail = f"profile {profile.name} at ISO {iso:g}"
    try:
        if dn_range is None:
            k = profile_gain(profile, iso, full_scale_dn)
            return GainEstimate(k, GainSource.PROFILE, detail, profile=profile.name), None
        file_gain = profile.system_gain_at_iso(iso)
        estimate = from_file_gain(
            file_gain, GainSource.PROFILE, detail, full_scale_dn, dn_range, profile=profile.name
        )
        return estimate, None
    except ValueError as exc:
        return None, f"camera profile {profile.name}: {exc}"


def _estimate_from_image(
    packed_norm: torch.Tensor,
    full_scale_dn: float,
    gain_range: tuple[float, float],
    dn_range: float | None,
    make: str | None,
    model: str | None,
    iso: float | None,
    why: str,
    use_darktable: bool,
    messages: list[str],
) -> GainEstimate:
    """The blind estimate, with darktable's installed profile as a prior when it has the
    camera; appends what the user should know to ``messages``."""
    darktable = None
    if use_darktable:
        darktable, note = match_darktable(make, model)
        if note:
            messages.append(note)
    blind = blind_gain(packed_norm, full_scale_dn, gain_range, dn_range)
    if darktable is not None and iso is not None and iso > 0:
        estimate, message = _with_darktable(
            blind, darktable, float(iso), full_scale_dn, dn_range, why
        )
        messages.append(message)
        return estimate
    found = f"K = {blind.system_gain:.3g}"
    if blind.clamped:
        found += f": {blind.detail}"
    messages.append(
        f"{why}: the noise level is estimated from the image ({found}); give "
        "--system-gain or --camera for exact results"
    )
    return blind
