"""``expodiff.enhance``: one dark raw frame in, the enhanced raw (and sRGB) out.

Steps of :func:`enhance` (timed in :class:`EnhanceTimings`):

1. **input**: a raw file, a :class:`~expodiff.io.frame.RawFrame`, a raw mosaic array (with
   ``cfa``, ``black_level``, ``white_level``) or a packed raw_norm array ``(C, h, w)``, as
   packed raw_norm. NaN or infinite values are an error naming the input (no silent repair);
2. **ratio** (:mod:`expodiff.inference.ratio`): given, from EXIF with a target exposure, or
   from the frame's brightness. A ratio below 1 (an over-exposed input) passes the frame
   through unchanged with a warning; a ratio outside the model's trained range warns;
3. **K** (:mod:`expodiff.inference.gain`): given, from the camera profile at the file's ISO,
   or estimated from the image with a warning;
4. **sampling**: the input amplified by r (clipped at the white level first, as the sensor
   does) runs through the ExposureDiffusion sampler for ``steps`` network evaluations; large
   frames are evaluated in tiles (:class:`~expodiff.nets.tiling.TiledDenoiser`; the
   re-exposure runs on the full frame). ``samples > 1`` runs independent trajectories (seeds
   derived from ``seed``) and returns their mean and per-pixel standard deviation;
5. **sRGB** (optional): :func:`expodiff.io.isp.develop` with the frame's white balance and
   colour matrix, in strips (:mod:`expodiff.inference.render`), rotated as the camera recorded.

Warnings go through :mod:`warnings` (category :class:`EnhanceWarning`) and are also kept in
the result.
"""

from __future__ import annotations

import dataclasses
import math
import secrets
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from ..diffusion.consistency import input_consistency
from ..errors import ExpodiffError, ModelError
from ..io.frame import RawFrame
from ..raw import CFAPattern
from .gain import GainEstimate, resolve_gain
from .limits import MAX_RATIO
from .model_loading import EnhanceModel, load_model
from .options import EnhanceOptions
from .ratio import RatioEstimate, RatioSource, brightness_ratio, exif_ratio
from .render import develop_in_strips
from .result import EnhanceResult, EnhanceTimings, EnhanceWarning
from .source import EnhanceInput, prepare_input
from .trajectories import ProgressCallback, denoise_frame

__all__ = ["enhance", "EnhanceOptions"]


# ------------------------------------------------------------------------------- ratio
def _resolve_ratio(inp: EnhanceInput, opts: EnhanceOptions) -> RatioEstimate:
    """The ratio given (checked by :class:`EnhanceOptions`), from EXIF, or from brightness."""
    ratio, target_exposure, target_iso = opts.ratio, opts.target_exposure, opts.target_iso
    if not (isinstance(ratio, str) and ratio.strip().lower() == "auto"):
        return RatioEstimate(float(ratio), RatioSource.USER, "given")
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


def _check_ratio(inp: EnhanceInput, found: RatioEstimate, loaded: EnhanceModel) -> list[str]:
    """Refuse a ratio that cannot be used; the warnings for one outside the trained range."""
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
        return [
            f"{inp.name}: ratio {found.ratio:.4g} is outside the range the model was trained "
            f"on ({lo:g}-{hi:g}); results may be poor"
        ]
    return []


def _resolve_file_gain(
    inp: EnhanceInput, loaded: EnhanceModel, opts: EnhanceOptions
) -> tuple[GainEstimate, list[str]]:
    """K on the model's scale for this input (:func:`~expodiff.inference.gain.resolve_gain`)."""
    frame = inp.frame
    return resolve_gain(
        inp.packed_norm,
        full_scale_dn=loaded.full_scale_dn,
        gain_range=loaded.gain_range,
        system_gain=opts.system_gain,
        camera=opts.camera,
        make=frame.make if frame is not None else None,
        model=frame.model if frame is not None else None,
        iso=frame.iso if frame is not None else None,
        # K of a profile or the user is DN per electron of the file: converted with its range
        dn_range=float(frame.sensor.dn_range.mean()) if frame is not None else None,
    )


def _srgb(raw_norm: torch.Tensor, inp: EnhanceInput) -> np.ndarray:
    frame = inp.frame
    return develop_in_strips(
        raw_norm,
        inp.cfa,
        frame.white_balance if frame is not None else (1.0, 1.0, 1.0, 1.0),
        frame.colour_matrix if frame is not None else np.eye(3),
        orientation=frame.orientation if frame is not None else 1,
    )


# -------------------------------------------------------------------------------- enhance
def _load_for(inp: EnhanceInput, model: Any, device: str | torch.device) -> EnhanceModel:
    """The model, checked to take this input's sensor layout."""
    loaded = load_model(model, device=device)
    if loaded.channels is not None and loaded.channels != inp.packed_norm.shape[0]:
        raise ModelError(
            f"{inp.name}: a {inp.cfa.value} sensor packs to {inp.packed_norm.shape[0]} "
            f"channels, but the model {loaded.name} takes {loaded.channels}"
        )
    return loaded


def _analyse(
    inp: EnhanceInput, found: RatioEstimate, loaded: EnhanceModel, opts: EnhanceOptions
) -> tuple[GainEstimate | None, list[str]]:
    """K for the input and the warnings so far; no K for an over-exposed (passed) input."""
    if found.ratio < 1:
        return None, [
            f"{inp.name}: over-exposed for the target (ratio {found.ratio:.3g} < 1): passed "
            "through without amplification or denoising"
        ]
    notes = _check_ratio(inp, found, loaded)
    gain, messages = _resolve_file_gain(inp, loaded, opts)
    return gain, notes + [f"{inp.name}: {m}" for m in messages]


class _Sampled(NamedTuple):
    """What :func:`_denoise` returns: the mean and standard deviation over samples, and the
    steps, views and input consistency sigma (None: off) it ran with."""

    mean: torch.Tensor
    std: torch.Tensor | None
    steps: int
    views: int
    consistency_sigma: float | None
    keeps_offset: bool = False


def _denoise(
    inp: EnhanceInput,
    loaded: EnhanceModel,
    found: RatioEstimate,
    gain: GainEstimate | None,
    opts: EnhanceOptions,
    seed: int,
    progress: ProgressCallback | None,
) -> _Sampled:
    """The sampled frame and its settings; the clipped input itself when passed through."""
    if gain is None:
        return _Sampled(inp.packed_norm.clamp(0.0, 1.0), None, 0, 1, None)
    rules = loaded.config.diffusion  # the model's rules by the input's signal level
    electrons = loaded.input_electrons(inp.packed_norm, gain.system_gain)
    steps = rules.steps_for_signal(electrons) if opts.steps is None else int(opts.steps)
    views = loaded.views_for_steps(steps) if opts.views is None else int(opts.views)
    sigma = opts.input_consistency_sigma
    if sigma is None:
        sigma = rules.consistency_for_signal(electrons)
    keep_offset = bool(sigma) and rules.consistency_keeps_offset(electrons)
    mean, std = denoise_frame(
        loaded.denoiser,
        loaded.process(),
        # The sensor clips at white; values below black are kept (as in training).
        (inp.packed_norm.clamp(max=1.0) * float(found.ratio))[None],
        exposure_ratio=float(found.ratio),
        system_gain=gain.system_gain,
        steps=steps,
        seed=seed,
        samples=int(opts.samples),
        views=views,
        tile=opts.tile,
        device=loaded.device,
        correct=input_consistency(float(sigma), keep_offset) if sigma else None,
        progress=progress,
        names=(loaded.name, inp.name),
    )
    mean, std = mean[0].to("cpu", copy=True), (None if std is None else std[0].cpu())
    return _Sampled(mean, std, steps, views, float(sigma) if sigma else None, keep_offset)


def enhance(
    source: str | Path | RawFrame | np.ndarray | torch.Tensor,
    options: EnhanceOptions | None = None,
    *,
    model: str | Path | EnhanceModel | Callable[..., Any] | None = None,
    device: str | torch.device = "auto",
    cfa: CFAPattern | str | None = None,
    black_level: float | Sequence[float] | None = None,
    white_level: float | None = None,
    progress: ProgressCallback | None = None,
    **settings: Any,
) -> EnhanceResult:
    """Enhance one dark raw frame with ExposureDiffusion (see the module docstring).

    Args:
        source: a raw file path, a :class:`RawFrame`, a ``(H, W)`` raw mosaic in DN (needs
            ``cfa`` and ``white_level``; ``black_level`` defaults to 0), or a ``(C, h, w)``
            packed raw_norm (canonical planes R, Gr, B, Gb; ``cfa`` only for the sRGB).
        options: the settings (:class:`EnhanceOptions`: ratio, steps, input_consistency_sigma, seed,
            samples, views, system_gain, camera, target_exposure, target_iso, tile, srgb); any of
            them may also be given as a keyword (``enhance(path, ratio=100, steps=3)``).
        model: None (the packaged default), a model folder, an :class:`EnhanceModel`, or an
            already loaded denoiser (any callable ``denoiser(state, photon_level, noisy)``).
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        cfa, black_level, white_level: describe an array ``source``.
        progress: called as ``progress(done, total)`` after each network evaluation of one
            tile (``total``: samples x steps x views x tiles per view, 1 tile untiled).

    Raises:
        InputFileError: an unreadable file, or NaN/inf in the input.
        ModelError: a missing or corrupt model, a model for another sensor layout, or a
            non-finite output.
        ExpodiffError: bad options (ratio < 1, samples < 1, missing EXIF for
            ``target_exposure``, an unknown keyword, ...).
    """
    t0 = time.perf_counter()
    opts = _options(options, settings)
    seed = secrets.randbits(63) if opts.seed is None else int(opts.seed)
    inp = prepare_input(source, cfa, black_level, white_level)
    t_read = time.perf_counter()
    loaded = _load_for(inp, model, device)
    t_model = time.perf_counter()
    found = _resolve_ratio(inp, opts)
    gain, notes = _analyse(inp, found, loaded, opts)
    for note in notes:
        warnings.warn(note, EnhanceWarning, stacklevel=2)
    t_analysis = time.perf_counter()
    sampled = _denoise(inp, loaded, found, gain, opts, seed, progress)
    t_sampled = time.perf_counter()
    image = _srgb(sampled.mean, inp) if opts.srgb else None
    t_end = time.perf_counter()
    times = (t0, t_read, t_model, t_analysis, t_sampled, t_end)
    return EnhanceResult(
        raw_norm=sampled.mean,
        cfa=inp.cfa,
        ratio=float(found.ratio) if gain is not None else 1.0,
        ratio_source=found.source,
        ratio_detail=found.detail,
        estimated_ratio=float(found.ratio),
        system_gain=None if gain is None else gain.system_gain,
        gain_source=None if gain is None else gain.source,
        gain_detail="" if gain is None else gain.detail,
        steps=sampled.steps,
        samples=int(opts.samples),
        views=sampled.views,
        input_consistency_sigma=sampled.consistency_sigma,
        input_consistency_keeps_offset=sampled.keeps_offset,
        seed=seed,
        uncertainty=sampled.std,
        srgb=image,
        frame=inp.frame,
        passed_through=gain is None,
        model_name=loaded.name,
        warnings=tuple(notes),
        timings=EnhanceTimings(
            *(b - a for a, b in zip(times, times[1:], strict=False)), t_end - t0
        ),
    )


def _options(options: EnhanceOptions | None, settings: dict[str, Any]) -> EnhanceOptions:
    """``options`` with the keyword ``settings`` applied (an unknown keyword is an error)."""
    unknown = sorted(set(settings) - set(EnhanceOptions.names()))
    if unknown:
        valid = ", ".join(EnhanceOptions.names())
        raise ExpodiffError(f"unknown enhance option(s) {', '.join(unknown)}; valid: {valid}")
    return dataclasses.replace(options or EnhanceOptions(), **settings)
