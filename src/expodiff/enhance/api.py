"""``expodiff.enhance``: one dark raw frame in, the enhanced raw (and sRGB) out.

Steps of :func:`enhance` (timed in :class:`EnhanceTimings`):

1. **input**: a raw file, a :class:`~expodiff.io.frame.RawFrame`, a raw mosaic array (with
   ``cfa``, ``black_level``, ``white_level``) or a packed raw_norm array ``(C, h, w)``, as
   packed raw_norm. NaN or infinite values are an error naming the input (no silent repair);
2. **ratio** (:mod:`expodiff.enhance.ratio`): given, from EXIF with a target exposure, or
   from the frame's brightness. A ratio below 1 (an over-exposed input) passes the frame
   through unchanged with a warning; a ratio outside the model's trained range warns;
3. **K** (:mod:`expodiff.enhance.gain`): given, from the camera profile at the file's ISO,
   or estimated from the image with a warning;
4. **sampling**: the input amplified by r (clipped at the white level first, as the sensor
   does) runs through the ExposureDiffusion sampler for ``steps`` network evaluations; large
   frames are evaluated in tiles (:class:`~expodiff.nets.tiling.TiledDenoiser`; the
   re-exposure runs on the full frame). ``samples > 1`` runs independent trajectories (seeds
   derived from ``seed``) and returns their mean and per-pixel standard deviation;
5. **sRGB** (optional): :func:`expodiff.io.isp.develop` with the frame's white balance and
   colour matrix, in strips (:mod:`expodiff.enhance.render`), rotated as the camera recorded.

Warnings go through :mod:`warnings` (category :class:`EnhanceWarning`) and are also kept in
the result.
"""

from __future__ import annotations

import math
import secrets
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import ExpodiffError, ModelError
from ..io.frame import RawFrame
from ..raw import CFAPattern
from .gain import GainEstimate, GainSource, resolve_gain
from .limits import MAX_RATIO, MAX_STEPS
from .models import EnhanceModel, load_model
from .ratio import RatioEstimate, RatioSource, brightness_ratio, exif_ratio
from .sampling import MIN_TILE, ProgressCallback, run_samples
from .source import EnhanceInput, prepare_input

__all__ = [
    "EnhanceWarning",
    "EnhanceTimings",
    "EnhanceResult",
    "enhance",
    "enhanced_exposure_time",
]


class EnhanceWarning(UserWarning):
    """Something the user should know about an enhancement (pass-through, blind K, range)."""


@dataclass(frozen=True)
class EnhanceTimings:
    """Wall-clock seconds of the steps of :func:`enhance`."""

    read_s: float = 0.0
    model_s: float = 0.0
    analysis_s: float = 0.0
    sampling_s: float = 0.0
    develop_s: float = 0.0
    total_s: float = 0.0


@dataclass(frozen=True, eq=False)
class EnhanceResult:
    """What :func:`enhance` returns.

    Attributes:
        raw_norm: ``(C, h, w)`` float32 CPU, the enhanced packed raw at reference brightness
            (the mean over samples), raw_norm in [0, 1].
        cfa: the layout the channels were packed from.
        ratio: the exposure ratio applied (1 when passed through).
        ratio_source, ratio_detail: where the ratio came from, in words.
        estimated_ratio: the ratio found before any pass-through decision (< 1: over-exposed).
        system_gain: K used, on the model's ``full_scale_dn`` scale (the file's K and the
            conversion are in ``gain_detail``), None when passed through.
        gain_source, gain_detail: where K came from (None / "" when passed through).
        steps: network evaluations per sample (0 when passed through).
        samples: trajectories averaged.
        seed: the seed of the first trajectory (reproduces the run).
        uncertainty: ``(C, h, w)`` per-pixel standard deviation over the samples (raw_norm),
            or None for a single sample.
        srgb: ``(H, W, 3)`` float32 sRGB in [0, 1], oriented for display, if requested.
        frame: the input frame (None for a packed array).
        passed_through: the input was over-exposed and returned unchanged.
        model_name: the model that ran.
        warnings: the warnings issued, as text.
        timings: :class:`EnhanceTimings`.
    """

    raw_norm: torch.Tensor
    cfa: CFAPattern
    ratio: float
    ratio_source: RatioSource
    ratio_detail: str
    estimated_ratio: float
    system_gain: float | None
    gain_source: GainSource | None
    gain_detail: str
    steps: int
    samples: int
    seed: int
    uncertainty: torch.Tensor | None
    srgb: np.ndarray | None
    frame: RawFrame | None
    passed_through: bool
    model_name: str
    warnings: tuple[str, ...]
    timings: EnhanceTimings

    def summary(self) -> str:
        """One line: ratio, K and their sources, steps, samples, time."""
        if self.passed_through:
            return (
                f"passed through (ratio {self.estimated_ratio:.3g} < 1, over-exposed), "
                f"{self.timings.total_s:.1f} s"
            )
        noun = "sample" if self.samples == 1 else "samples"
        return (
            f"ratio {self.ratio:.4g} ({self.ratio_source.value}), "
            f"K {self.system_gain:.3g} DN/e ({self.gain_detail}), {self.steps} steps, "
            f"{self.samples} {noun}, {self.timings.total_s:.1f} s"
        )


# ------------------------------------------------------------------------------- ratio
def _resolve_ratio(
    inp: EnhanceInput,
    ratio: float | str,
    target_exposure: float | None,
    target_iso: float | None,
) -> RatioEstimate:
    if not (isinstance(ratio, str) and ratio.strip().lower() == "auto"):
        try:
            value = float(ratio)
        except (TypeError, ValueError):
            raise ExpodiffError(f"ratio must be 'auto' or a number, got {ratio!r}") from None
        if not (value >= 1 and math.isfinite(value)):
            raise ExpodiffError(
                f"ratio must be a number >= 1 (expodiff brightens, it does not darken), got {ratio}"
            )
        if value > MAX_RATIO:
            raise ExpodiffError(
                f"ratio must be <= {MAX_RATIO:g} (beyond it a single DN above black is "
                f"amplified to white), got {ratio}"
            )
        return RatioEstimate(value, RatioSource.USER, "given")
    if target_exposure is not None:
        frame = inp.frame
        found = (
            exif_ratio(frame.exposure_time, frame.iso, target_exposure, target_iso)
            if frame is not None
            else None
        )
        if found is None:
            missing = "exposure time" if frame is None or frame.exposure_time is None else "ISO"
            raise ExpodiffError(
                f"{inp.name}: --target-exposure needs the input's {missing}, which it does not "
                "record; give --ratio instead"
            )
        return found
    return brightness_ratio(inp.packed_norm)


def _srgb(raw_norm: torch.Tensor, inp: EnhanceInput) -> np.ndarray:
    from .render import develop_in_strips

    frame = inp.frame
    return develop_in_strips(
        raw_norm,
        inp.cfa,
        frame.white_balance if frame is not None else (1.0, 1.0, 1.0, 1.0),
        frame.colour_matrix if frame is not None else np.eye(3),
        orientation=frame.orientation if frame is not None else 1,
    )


# -------------------------------------------------------------------------------- enhance
def enhance(
    source: str | Path | RawFrame | np.ndarray | torch.Tensor,
    *,
    ratio: float | str = "auto",
    steps: int | None = None,
    consistency: float | None = None,
    model: str | Path | EnhanceModel | Callable[..., Any] | None = None,
    device: str | torch.device = "auto",
    seed: int | None = None,
    samples: int = 1,
    system_gain: float | None = None,
    camera: str | Path | None = None,
    target_exposure: float | None = None,
    target_iso: float | None = None,
    tile: int | None = None,
    srgb: bool = False,
    cfa: CFAPattern | str | None = None,
    black_level: float | Sequence[float] | None = None,
    white_level: float | None = None,
    progress: ProgressCallback | None = None,
) -> EnhanceResult:
    """Enhance one dark raw frame with ExposureDiffusion (see the module docstring).

    Args:
        source: a raw file path, a :class:`RawFrame`, a ``(H, W)`` raw mosaic in DN (needs
            ``cfa`` and ``white_level``; ``black_level`` defaults to 0), or a ``(C, h, w)``
            packed raw_norm (canonical planes R, Gr, B, Gb; ``cfa`` only for the sRGB).
        ratio: ``"auto"`` or the exposure ratio to brighten by, from 1 to ``MAX_RATIO``
            (:mod:`expodiff.enhance.limits`; an automatic ratio above it is an error too).
        steps: network evaluations, 1 to ``MAX_STEPS`` (default: the model's
            ``diffusion.inference_steps``).
        consistency: Gaussian sigma (packed pixels) of the input consistency applied to every
            prediction (:mod:`expodiff.diffusion.consistency`); 0 turns it off; None: the
            model's ``diffusion.input_consistency_sigma``.
        model: None (the packaged default), a model folder, an :class:`EnhanceModel`, or an
            already loaded denoiser (any callable ``denoiser(state, photon_level, noisy)``).
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        seed: seed of the Poisson draws (None: a random one, reported in the result).
        samples: independent trajectories to average (> 1 also gives ``uncertainty``).
        system_gain: K in DN per electron of the input's own DN (``white - black`` is its
            raw_norm 1; converted to the model's ``full_scale_dn`` scale, see
            :mod:`expodiff.enhance.gain`); of the model's scale for a packed raw_norm array.
        camera: a packaged profile name or profile ``.json`` to take K from (at the file's
            ISO) instead of matching the file's camera.
        target_exposure: with ``ratio="auto"``: the wanted exposure in seconds (EXIF ratio).
        target_iso: the wanted ISO with ``target_exposure`` (default: the input's).
        tile: tile side in packed pixels (None: automatic, ``AUTO_TILE`` for large frames;
            0: never tile).
        srgb: also develop the result to sRGB.
        cfa, black_level, white_level: describe an array ``source``.
        progress: called as ``progress(done, total)`` after each network evaluation of one
            tile (``total``: samples x steps x tiles per evaluation, 1 tile when untiled).

    Returns:
        The :class:`EnhanceResult`.

    Raises:
        InputFileError: an unreadable file, or NaN/inf in the input.
        ModelError: a missing or corrupt model, a model for another sensor layout, or a
            non-finite output.
        ExpodiffError: bad options (ratio < 1, samples < 1, missing EXIF for
            ``target_exposure``, ...).
    """
    t0 = time.perf_counter()
    if isinstance(samples, bool) or int(samples) != samples or samples < 1:
        raise ExpodiffError(f"samples must be an integer >= 1, got {samples!r}")
    if steps is not None and (
        isinstance(steps, bool) or int(steps) != steps or not 1 <= steps <= MAX_STEPS
    ):
        raise ExpodiffError(
            f"steps must be an integer from 1 to {MAX_STEPS} (network evaluations), got {steps!r}"
        )
    if consistency is not None and not (consistency >= 0 and math.isfinite(consistency)):
        raise ExpodiffError(f"consistency must be a finite number >= 0 (0: off), got {consistency}")
    if tile is not None and (tile < 0 or 0 < tile < MIN_TILE):
        raise ExpodiffError(f"tile must be 0 (no tiling) or >= {MIN_TILE}, got {tile}")
    seed = secrets.randbits(63) if seed is None else int(seed)
    notes: list[str] = []

    def warn(message: str) -> None:
        notes.append(message)
        warnings.warn(message, EnhanceWarning, stacklevel=3)

    inp = prepare_input(source, cfa, black_level, white_level)
    t_read = time.perf_counter()
    loaded = load_model(model, device=device)
    t_model = time.perf_counter()
    if loaded.channels is not None and loaded.channels != inp.packed_norm.shape[0]:
        raise ModelError(
            f"{inp.name}: a {inp.cfa.value} sensor packs to {inp.packed_norm.shape[0]} "
            f"channels, but the model {loaded.name} takes {loaded.channels}"
        )
    found = _resolve_ratio(inp, ratio, target_exposure, target_iso)
    n_steps = int(steps) if steps is not None else loaded.inference_steps
    sigma = loaded.input_consistency_sigma if consistency is None else float(consistency)
    if found.ratio < 1:
        warn(
            f"{inp.name}: over-exposed for the target (ratio {found.ratio:.3g} < 1): passed "
            "through without amplification or denoising"
        )
        result_raw = inp.packed_norm.clamp(0.0, 1.0)
        t_ready = time.perf_counter()
        image = _srgb(result_raw, inp) if srgb else None
        t_end = time.perf_counter()
        return EnhanceResult(
            raw_norm=result_raw,
            cfa=inp.cfa,
            ratio=1.0,
            ratio_source=found.source,
            ratio_detail=found.detail,
            estimated_ratio=found.ratio,
            system_gain=None,
            gain_source=None,
            gain_detail="",
            steps=0,
            samples=samples,
            seed=seed,
            uncertainty=None,
            srgb=image,
            frame=inp.frame,
            passed_through=True,
            model_name=loaded.name,
            warnings=tuple(notes),
            timings=EnhanceTimings(
                t_read - t0, t_model - t_read, t_ready - t_model, 0.0, t_end - t_ready, t_end - t0
            ),
        )
    if not math.isfinite(found.ratio):
        raise ExpodiffError(
            f"{inp.name}: the frame holds no signal above black, so no ratio can be found "
            "from its brightness; give --ratio"
        )
    if found.ratio > MAX_RATIO:
        raise ExpodiffError(
            f"{inp.name}: the {found.source.value} ratio {found.ratio:.4g} is above the maximum "
            f"{MAX_RATIO:g} (a single DN above black would become white); give a smaller ratio"
        )
    lo, hi = loaded.ratio_range
    if not lo <= found.ratio <= hi:
        warn(
            f"{inp.name}: ratio {found.ratio:.4g} is outside the range the model was trained "
            f"on ({lo:g}-{hi:g}); results may be poor"
        )
    frame = inp.frame
    gain: GainEstimate
    gain, messages = resolve_gain(
        inp.packed_norm,
        full_scale_dn=loaded.full_scale_dn,
        gain_range=loaded.gain_range,
        system_gain=system_gain,
        camera=camera,
        make=frame.make if frame is not None else None,
        model=frame.model if frame is not None else None,
        iso=frame.iso if frame is not None else None,
        # K of a profile or the user is DN per electron of the file: converted with its range
        dn_range=float(frame.sensor.dn_range.mean()) if frame is not None else None,
    )
    for message in messages:
        warn(f"{inp.name}: {message}")
    # The sensor clips at white; values below black are kept (as in training).
    noisy = inp.packed_norm.clamp(max=1.0) * float(found.ratio)
    t_analysis = time.perf_counter()
    mean, std = run_samples(
        loaded,
        noisy,
        ratio=float(found.ratio),
        system_gain=gain.system_gain,
        steps=n_steps,
        samples=int(samples),
        seed=seed,
        tile=tile,
        progress=progress,
        name=inp.name,
        consistency_sigma=sigma or None,
    )
    del noisy  # one frame less in memory while developing
    t_sampled = time.perf_counter()
    image = _srgb(mean, inp) if srgb else None
    t_end = time.perf_counter()
    return EnhanceResult(
        raw_norm=mean,
        cfa=inp.cfa,
        ratio=float(found.ratio),
        ratio_source=found.source,
        ratio_detail=found.detail,
        estimated_ratio=float(found.ratio),
        system_gain=gain.system_gain,
        gain_source=gain.source,
        gain_detail=gain.detail,
        steps=n_steps,
        samples=int(samples),
        seed=seed,
        uncertainty=std,
        srgb=image,
        frame=inp.frame,
        passed_through=False,
        model_name=loaded.name,
        warnings=tuple(notes),
        timings=EnhanceTimings(
            t_read - t0,
            t_model - t_read,
            t_analysis - t_model,
            t_sampled - t_analysis,
            t_end - t_sampled,
            t_end - t0,
        ),
    )


def enhanced_exposure_time(result: EnhanceResult) -> Fraction | None:
    """The exposure time the enhanced raw stands for: the input's times the ratio."""
    frame = result.frame
    if frame is None or frame.exposure_time is None:
        return None
    exposure = Fraction(frame.exposure_time) * Fraction(result.ratio)
    return exposure.limit_denominator(10**5)  # a short rational for the DNG tag
