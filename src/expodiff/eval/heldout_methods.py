"""Measuring methods on the held-out set (:mod:`expodiff.eval.heldout`).

* a model runs through :func:`expodiff.enhance` on each dark DNG at the condition's ratio (the
  code path of ``expodiff enhance FILE.dng --ratio R``, seed 0 as on the command line), with
  the settings ``--steps`` / ``--consistency`` / ``--samples`` / ``--tile`` / ``--seed`` a
  benchmark may give it (:func:`enhance_settings`);
* ``bm3d`` and ``abm3d`` (:mod:`expodiff.eval.baselines`) get the *true* noise level: K of the
  profile at the ISO and the read-noise std of the profile's parameters there
  (:func:`noise_level`); ``scaled`` is the dark frame times the ratio. On the biased variant
  every baseline is given the true black level (the file's plus the colour bias,
  :func:`bias_dn`), as the learned models learn it.

Each returns ``(PSNR of the packed raw_norm against the clean reference, seconds)``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from typing import Any

from ..errors import ConfigError
from .heldout import HeldoutFile

__all__ = [
    "BASELINES",
    "enhance_settings",
    "noise_level",
    "bias_dn",
    "measure_model",
    "measure_baseline",
]

BASELINES = ("bm3d", "abm3d", "scaled")


def enhance_settings(args: Sequence[str]) -> dict[str, Any]:
    """``expodiff enhance``-style arguments (``--steps 1``, ``--consistency=8``, ...) as
    :class:`~expodiff.inference.EnhanceOptions` keywords.

    Raises:
        ConfigError: an argument the held-out benchmark does not pass on.
    """

    class _Parser(argparse.ArgumentParser):
        def error(self, message: str):
            raise ConfigError(f"enhance arguments {' '.join(args)!r}: {message}")

    p = _Parser(prog="enhance settings", add_help=False)
    p.add_argument("--steps", type=int)
    p.add_argument("--consistency", type=float, dest="input_consistency_sigma")
    p.add_argument("--samples", type=int)
    p.add_argument("--views", type=int)
    p.add_argument("--tile", type=int)
    p.add_argument("--seed", type=int)
    return {k: v for k, v in vars(p.parse_args(list(args))).items() if v is not None}


def _profile_noise(camera: str, iso: int):
    from ..inference.gain import resolve_camera_profile
    from ..kinds import PRESET_COMPONENTS, NoisePreset
    from ..noise.model import NoiseModel

    profile = resolve_camera_profile(camera)
    components = PRESET_COMPONENTS[NoisePreset.ELD_BIAS]  # with quantisation: files are rounded
    model = NoiseModel(
        components, [profile], full_scale_dn=profile.full_scale_dn,
        black_level_dn=profile.black_level,
    )  # fmt: skip
    return model.params_for_iso(float(iso), profile), components


def noise_level(camera: str, iso: int) -> tuple[float, float]:
    """(K, read-noise std) in DN on the profile's scale: the true level of the dark files."""
    from ..noise.params import read_noise_std

    params, components = _profile_noise(camera, iso)
    return float(params.system_gain[0]), read_noise_std(params, 0, components)


def bias_dn(camera: str, iso: int) -> list[float]:
    """The colour bias (DN per packed channel) the biased files carry at ``iso``."""
    params, _ = _profile_noise(camera, iso)
    return [float(v) for v in params.colour_bias[0]]


def _reference(f: HeldoutFile):
    from ..io.rawio import read_raw

    return read_raw(f.clean).packed_norm().clamp(0.0, 1.0)


def measure_model(model, f: HeldoutFile, settings: dict[str, Any]) -> tuple[float, float]:
    """``expodiff.enhance`` of one dark DNG at its condition's ratio: ``(PSNR, seconds)``,
    the seconds the enhancement's own (``result.timings.total_s``).

    Args:
        model: an :class:`~expodiff.inference.EnhanceModel` (loaded once for every file).
        f: the file.
        settings: :class:`~expodiff.inference.EnhanceOptions` keywords
            (:func:`enhance_settings`); the seed is 0 unless given, as on the command line.
    """
    from ..inference.api import enhance
    from .metrics import psnr

    options = {"seed": 0, **settings}
    result = enhance(f.dark, ratio=float(f.condition.ratio), model=model, srgb=False, **options)
    value = psnr(result.raw_norm.clamp(0.0, 1.0), _reference(f))
    return value, float(result.timings.total_s)


def measure_baseline(
    method: str, f: HeldoutFile, threads: int, variant: str = "bias-free"
) -> tuple[float, float]:
    """One of :data:`BASELINES` on one file, given the true noise level: ``(PSNR, seconds)``."""
    import bm3d
    import torch

    from ..io.rawio import read_raw
    from .baselines import abm3d_denoise, bm3d_denoise, scaled_input
    from .metrics import psnr

    if method not in BASELINES:
        raise ConfigError(f"unknown baseline {method!r} (valid: {', '.join(BASELINES)})")
    t0 = time.perf_counter()
    clean = _reference(f)
    dark = read_raw(f.dark)
    noisy = dark.packed_norm()
    if variant == "biased":
        # packed planes are in the canonical (R, Gr, B, Gb) order of the bias
        span = torch.tensor([dark.sensor.white_level - b for b in dark.sensor.black_level])
        bias = torch.tensor(bias_dn(f.condition.camera, f.iso)) / span
        noisy = noisy - bias.view(-1, 1, 1).to(noisy.dtype)
    noisy = noisy * float(f.condition.ratio)
    if method == "scaled":
        estimate = scaled_input(noisy)
    else:
        k, read_std = noise_level(f.condition.camera, f.iso)
        profile = bm3d.BM3DProfile()
        profile.num_threads = threads
        fn = bm3d_denoise if method == "bm3d" else abm3d_denoise
        estimate = fn(
            noisy, exposure_ratio=float(f.condition.ratio), system_gain=k,
            read_std=read_std, profile=profile,
        )  # fmt: skip
    seconds = time.perf_counter() - t0
    return psnr(estimate.to(torch.float32), clean), seconds
