"""The system gain K of a frame: given, from a calibrated camera profile, or estimated blind.

K is in DN per electron on the *model's* ``full_scale_dn`` scale (the scale the network was
trained on, ``noise.full_scale_dn`` of its config: raw_norm 1 = ``full_scale_dn`` DN). With
``x`` a raw_norm value of the input, ``x * full_scale_dn / K`` is its count of
photo-electrons, so K fixes how much shot noise the model expects. The sources, in the order
:func:`resolve_gain` tries them (:class:`GainSource`):

* ``USER``: a number the user gave (``--system-gain``);
* ``PROFILE``: a calibrated camera profile (a packaged ELD calibration, or a file written by
  ``expodiff calibrate``) at the file's ISO, K linear in ISO (``CameraProfile``), rescaled
  from the profile's DN scale to the model's (electrons per raw_norm unit are kept). The
  profile is the one the user names (``--camera``), or the one matching the file's make and
  model through :data:`CAMERA_ALIASES`;
* ``BLIND``: otherwise, with a warning, the photon-transfer line measured on the frame itself
  (:func:`expodiff.enhance.noiselevel.fit_noise_curve`), clamped to the range of K the model
  was trained on (the clamp is reported).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import torch

from ..errors import ExpodiffError
from ..noise.profiles import CameraProfile, ProfileError
from .noiselevel import fit_noise_curve

__all__ = [
    "CAMERA_ALIASES",
    "GainSource",
    "GainEstimate",
    "camera_key",
    "match_profile",
    "resolve_camera_profile",
    "profile_gain",
    "blind_gain",
    "resolve_gain",
]

# Camera names as raw files write them ("make model", normalised by camera_key) -> packaged
# profile. Model names from the makers' EXIF (the Canon 700D also sells as Rebel T5i / Kiss X7i).
CAMERA_ALIASES: dict[str, str] = {
    "sony ilce-7sm2": "SonyA7S2",
    "nikon d850": "NikonD850",
    "canon eos 70d": "CanonEOS70D",
    "canon eos 700d": "CanonEOS700D",
    "canon eos rebel t5i": "CanonEOS700D",
    "canon eos kiss x7i": "CanonEOS700D",
    "canon eos 5d mark iv": "CanonEOS5D4",
}
# Words of a maker's legal name that cameras repeat in Make but not in Model.
_MAKER_NOISE = {"corporation", "corp", "corp.", "co.,", "co.", "ltd", "ltd.", "company", "inc."}


class GainSource(str, Enum):
    """Where the system gain K came from."""

    USER = "user"
    PROFILE = "profile"
    BLIND = "blind"


@dataclass(frozen=True)
class GainEstimate:
    """K for one frame and how it was found.

    Attributes:
        system_gain: K, DN per electron on the model's ``full_scale_dn`` scale.
        source: :class:`GainSource`.
        detail: one human-readable line (profile and ISO, or the fit).
        profile: the camera profile's name (PROFILE only).
        clamped: the blind estimate was outside the trained range and was clamped.
    """

    system_gain: float
    source: GainSource
    detail: str = ""
    profile: str | None = None
    clamped: bool = False


def camera_key(make: str | None, model: str | None) -> str | None:
    """A normalised ``"make model"`` (lower case, single spaces, maker named once).

    ``("NIKON CORPORATION", "NIKON D850")`` -> ``"nikon d850"``;
    ``("SONY", "ILCE-7SM2")`` -> ``"sony ilce-7sm2"``.
    """
    make_words = [w for w in (make or "").lower().split() if w not in _MAKER_NOISE]
    model_text = " ".join((model or "").lower().split())
    maker = " ".join(make_words)
    if maker and model_text.startswith(maker.split()[0]):
        key = model_text
    else:
        key = " ".join(p for p in (maker, model_text) if p)
    return re.sub(r"\s+", " ", key).strip() or None


def match_profile(make: str | None, model: str | None) -> str | None:
    """The packaged profile of a camera (by :data:`CAMERA_ALIASES`), or None."""
    key = camera_key(make, model)
    return None if key is None else CAMERA_ALIASES.get(key)


def resolve_camera_profile(camera: str | Path | CameraProfile) -> CameraProfile:
    """A profile object, a packaged profile name or a profile ``.json`` file.

    Raises:
        ExpodiffError: an unknown name (listing the valid ones) or a bad profile file.
    """
    if isinstance(camera, CameraProfile):
        return camera
    from ..noise.factory import resolve_profile

    try:
        return resolve_profile(camera)
    except ProfileError as exc:
        raise ExpodiffError(f"--camera {camera}: {exc}") from None


def profile_gain(profile: CameraProfile, iso: float, full_scale_dn: float) -> float:
    """K of ``profile`` at ``iso``, on a ``full_scale_dn`` scale.

    Raises:
        ValueError: a non-positive ISO, or a K that extrapolates to <= 0.
    """
    return profile.rescaled(full_scale_dn).system_gain_at_iso(iso)


def blind_gain(
    packed_norm: torch.Tensor, full_scale_dn: float, gain_range: tuple[float, float]
) -> GainEstimate:
    """K from the frame's own photon-transfer line, clamped to ``gain_range``.

    Args:
        packed_norm: ``(C, h, w)`` raw_norm of the frame as captured (not amplified).
        full_scale_dn: the model's DN scale.
        gain_range: (lo, hi) K the model was trained on.

    Returns:
        A ``BLIND`` :class:`GainEstimate`; ``clamped`` when the fit fell outside the range or
        could not be made (no measurable signal range: the geometric middle of the range).
    """
    lo, hi = (float(v) for v in gain_range)
    fit = fit_noise_curve(packed_norm)
    if fit is None or not fit.measurable:
        k = math.sqrt(lo * hi)
        why = "too small a frame" if fit is None else "no measurable signal range"
        detail = f"noise not measurable ({why}); middle of the trained range {lo:g}-{hi:g}"
        return GainEstimate(k, GainSource.BLIND, detail, clamped=True)
    measured = fit.system_gain(full_scale_dn)
    k = min(max(measured, lo), hi)
    clamped = k != measured
    detail = (
        f"estimated from the image ({fit.blocks} flat blocks, read noise "
        f"{fit.read_sigma_dn(full_scale_dn):.3g} DN)"
    )
    if clamped:
        detail += f"; measured {measured:.3g}, clamped to the trained range {lo:g}-{hi:g}"
    return GainEstimate(k, GainSource.BLIND, detail, clamped=clamped)


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
) -> tuple[GainEstimate, list[str]]:
    """K for a frame, from the first source that applies (see the module docstring).

    Args:
        packed_norm: ``(C, h, w)`` raw_norm of the frame as captured.
        full_scale_dn: the model's DN scale.
        gain_range: (lo, hi) K the model was trained on.
        system_gain: a K given by the user (on the model's scale).
        camera: a profile (object, packaged name or .json path) to use instead of matching.
        make, model, iso: the frame's metadata.

    Returns:
        The estimate and the warnings to show the user (blind estimate; K outside the
        trained range).

    Raises:
        ExpodiffError: a bad ``system_gain``, an unknown ``camera``.
    """
    lo, hi = gain_range
    messages: list[str] = []
    if system_gain is not None:
        if not (system_gain > 0 and math.isfinite(system_gain)):
            raise ExpodiffError(f"system gain must be a positive number, got {system_gain}")
        estimate = GainEstimate(float(system_gain), GainSource.USER, "given")
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
                k = profile_gain(profile, iso, full_scale_dn)
            except ValueError as exc:
                why = f"camera profile {profile.name}: {exc}"
            else:
                detail = f"profile {profile.name} at ISO {iso:g}"
                estimate = GainEstimate(k, GainSource.PROFILE, detail, profile=profile.name)
        elif profile is not None:
            why = f"the file has no ISO, so the {profile.name} profile cannot give K"
        else:
            why = f"no calibrated noise profile for {camera_key(make, model) or 'unknown camera'}"
        if estimate is None:
            estimate = blind_gain(packed_norm, full_scale_dn, gain_range)
            found = f"K = {estimate.system_gain:.3g}"
            if estimate.clamped:
                found += f": {estimate.detail}"
            messages.append(
                f"{why}: the noise level is estimated from the image ({found}); give "
                "--system-gain or --camera for exact results"
            )
    if estimate.source is not GainSource.BLIND and not lo <= estimate.system_gain <= hi:
        messages.append(
            f"K = {estimate.system_gain:.3g} DN/e is outside the range the model was "
            f"trained on ({lo:g}-{hi:g}); results may be poor"
        )
    return estimate, messages
