"""Simulate a dark shot from a well-exposed raw frame with a calibrated camera noise model.

:func:`darken_frame` treats the input frame as the clean *reference* exposure and returns
the raw frame the simulated camera would have recorded with ``ratio`` times less light (ELD's
physics-based synthesis, :meth:`expodiff.noise.model.NoiseModel.synthesize`):

1. optional crop (mosaic pixels, whole CFA periods);
2. the clean packed raw_norm (clipped to [0, 1]) darkened by ``ratio`` with the noise of
   ``profile`` at ``iso`` (or at a given K): shot noise on the photo-electrons, read noise,
   row noise, colour bias, as the preset names; clipped at the white level and at DN 0;
3. written on the *profile's* DN scale (black ``profile.black_level``, white
   ``profile.white_level``: 800 / 16383 for the ELD calibrations, the 14-bit scale on which
   their noise was measured) and rounded to integers (the quantisation a real sensor does,
   so the preset's own quantisation component is left out).

The result keeps the source's CFA, white balance, colour matrix and orientation; its make and
model name the *simulated* camera (:data:`SIMULATED_CAMERA_NAMES` for the packaged profiles),
so ``expodiff enhance`` finds the same profile; its ISO is the simulated ISO and its exposure
time the source's divided by ``ratio``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from fractions import Fraction

import numpy as np
import torch

from ..errors import ExpodiffError
from ..io.frame import RawFrame, frame_from_mosaic
from ..kinds import PRESET_COMPONENTS, NoiseComponent, NoisePreset
from ..noise.camera import CameraProfile
from ..noise.model import NoiseModel, parse_preset
from ..raw import cfa_period, unpack
from ..sensor import SensorSpec

__all__ = ["SIMULATED_CAMERA_NAMES", "crop_frame", "darken_frame"]

# Make and Model tags (as the cameras write them) of the packaged profiles' cameras.
SIMULATED_CAMERA_NAMES: dict[str, tuple[str, str]] = {
    "SonyA7S2": ("SONY", "ILCE-7SM2"),
    "NikonD850": ("NIKON CORPORATION", "NIKON D850"),
    "CanonEOS70D": ("Canon", "Canon EOS 70D"),
    "CanonEOS700D": ("Canon", "Canon EOS 700D"),
    "CanonEOS5D4": ("Canon", "Canon EOS 5D Mark IV"),
}


def crop_frame(frame: RawFrame, crop: Sequence[int]) -> RawFrame:
    """The ``(x, y, width, height)`` window of a frame, in mosaic pixels.

    Raises:
        ExpodiffError: a window outside the frame or not on whole CFA periods.
    """
    x, y, w, h = (int(v) for v in crop)
    period = cfa_period(frame.cfa)
    if min(x, y) < 0 or w <= 0 or h <= 0 or x + w > frame.width or y + h > frame.height:
        raise ExpodiffError(
            f"crop {x} {y} {w} {h} does not fit the {frame.width} x {frame.height} frame"
        )
    if any(v % period for v in (x, y, w, h)):
        raise ExpodiffError(f"crop {x} {y} {w} {h}: values must be multiples of {period}")
    return replace(frame, mosaic=frame.mosaic[y : y + h, x : x + w])


def darken_frame(
    frame: RawFrame,
    *,
    ratio: float,
    profile: CameraProfile,
    iso: float | None = None,
    system_gain: float | None = None,
    preset: NoisePreset | str = NoisePreset.ELD_BIAS,
    crop: Sequence[int] | None = None,
    generator: torch.Generator | None = None,
) -> RawFrame:
    """The dark raw frame ``profile``'s camera would record (see the module docstring).

    Args:
        frame: a well-exposed Bayer frame, used as the clean reference.
        ratio: exposure ratio r >= 1 (reference exposure / simulated exposure).
        profile: the calibrated camera whose noise is simulated.
        iso: the simulated ISO (K from the profile); exactly one of ``iso``/``system_gain``.
        system_gain: K in DN per electron on the profile's ``full_scale_dn`` scale.
        preset: noise components (:class:`NoisePreset`: pg, eld, eld+bias, gaussian).
        crop: ``(x, y, width, height)`` in mosaic pixels, applied first.
        generator: source of the noise (seeded: reproducible files).

    Returns:
        The dark :class:`RawFrame` (uint16 mosaic on the profile's levels).

    Raises:
        ExpodiffError: bad ratio, ISO or K, a crop outside the frame, a non-Bayer frame.
    """
    if not (ratio >= 1 and math.isfinite(ratio)):
        raise ExpodiffError(f"ratio must be a number >= 1, got {ratio}")
    if (iso is None) == (system_gain is None):
        raise ExpodiffError("give exactly one of the ISO and the system gain K")
    if not frame.cfa.is_bayer:
        raise ExpodiffError(f"darken simulates Bayer sensors; this frame is {frame.cfa.value}")
    if crop is not None:
        frame = crop_frame(frame, crop)
    try:
        if system_gain is not None:
            if not (system_gain > 0 and math.isfinite(system_gain)):
                raise ValueError(f"system gain must be a positive number, got {system_gain}")
            iso = profile.iso_at_system_gain(system_gain)
            if not iso > 0:
                raise ValueError(
                    f"K = {system_gain:g} is below what {profile.name} reaches at any ISO"
                )
        components = PRESET_COMPONENTS[parse_preset(preset)] - {NoiseComponent.QUANTIZATION}
        model = NoiseModel(
            components,
            [profile],
            full_scale_dn=profile.full_scale_dn,
            black_level_dn=profile.black_level,
        )
        params = model.params_for_iso(float(iso), profile)
    except ValueError as exc:
        raise ExpodiffError(f"{profile.name}: {exc}") from None
    clean = frame.packed_norm().clamp(0.0, 1.0)
    pair = model.synthesize(clean[None], ratio=float(ratio), params=params, generator=generator)
    short_norm = pair.noisy[0] / float(ratio)
    sensor = SensorSpec.uniform(profile.black_level, profile.white_level, frame.cfa)
    mosaic_dn = sensor.denormalize_mosaic(unpack(short_norm, frame.cfa))
    mosaic = np.clip(np.rint(mosaic_dn.numpy()), 0, sensor.white_level).astype(np.uint16)
    make, model_name = SIMULATED_CAMERA_NAMES.get(
        profile.name, (profile.make or "expodiff", profile.model or profile.name)
    )
    exposure = None
    if frame.exposure_time is not None:
        exposure = Fraction(frame.exposure_time) / Fraction(ratio).limit_denominator(10**6)
    return frame_from_mosaic(
        mosaic,
        sensor,
        white_balance=frame.white_balance,
        colour_matrix=frame.colour_matrix,
        make=make,
        model=model_name,
        iso=float(round(float(iso))),
        exposure_time=exposure,
        orientation=frame.orientation,
    )
