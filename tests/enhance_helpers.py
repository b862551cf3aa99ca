"""Shared pieces of the tests/test_enhance_*.py files: tiny models, oracles, dark frames."""

from __future__ import annotations

from pathlib import Path

import torch

from expodiff.build import build_denoiser
from expodiff.config import ExperimentConfig, ModelConfig, NoiseConfig
from expodiff.inference.ratio import BRIGHTNESS_TARGET, raw_brightness
from expodiff.io.modelfiles import save_denoiser
from expodiff.io.profiles import load_profile
from expodiff.io.rawio import read_raw
from expodiff.noise.model import NoiseModel

FULL_SCALE_DN = 15583.0
# The tests' tiny models are trained (nominally) on ratios 1-300, so no range warnings.
TEST_CONFIG = ExperimentConfig(
    noise=NoiseConfig(ratio_range=(1.0, 300.0)), model=ModelConfig(preset="nafnet1")
)


def save_tiny_model(folder: Path, preset: str = "nafnet1", seed: int = 0) -> Path:
    """A freshly initialised model of ``preset`` saved as a model folder."""
    config = ExperimentConfig(noise=TEST_CONFIG.noise, model=ModelConfig(preset=preset))
    torch.manual_seed(seed)
    return save_denoiser(folder, build_denoiser(config.model), config, overwrite=True)


class Oracle:
    """A denoiser that always predicts the clean image (tests the plumbing exactly)."""

    channels = 4

    def __init__(self, clean: torch.Tensor) -> None:
        self.clean = clean

    def __call__(self, state, photon_level=None, noisy=None):  # noqa: ARG002
        return self.clean[None].to(state.device).expand_as(state).clone()


def canon_clean(raw_dir: Path, size: int | None = None) -> torch.Tensor:
    """The Canon D30's real 5 s ISO 100 exposure as a clean packed raw_norm at the training
    brightness (``BRIGHTNESS_TARGET``), optionally a centre crop of ``size`` packed pixels."""
    clean = read_raw(raw_dir / "Canon_EOS_D30.CRW").packed_norm().clamp(0.0, 1.0)
    if size is not None:
        h, w = clean.shape[-2:]
        y, x = (h - size) // 2, (w - size) // 2
        clean = clean[:, y : y + size, x : x + size]
    return (clean * (BRIGHTNESS_TARGET / raw_brightness(clean))).clamp(0.0, 1.0)


def darkened(
    clean: torch.Tensor,
    ratio: float,
    camera: str = "SonyA7S2",
    iso: float = 3200,
    preset: str = "eld+bias",
    seed: int = 0,
) -> tuple[torch.Tensor, float]:
    """The short exposure (raw_norm, not amplified) of ``clean`` darkened ``ratio`` times with
    a camera's calibrated noise at an ISO, and the true K."""
    profile = load_profile(camera)
    model = NoiseModel.from_preset(preset, [profile], full_scale_dn=FULL_SCALE_DN)
    params = model.params_for_iso(iso, profile)
    pair = model.synthesize(
        clean[None],
        ratio=float(ratio),
        params=params,
        generator=torch.Generator().manual_seed(seed),
    )
    return pair.noisy[0] / ratio, float(params.system_gain[0])


def small_dark_dng(path: Path, height: int = 192, width: int = 256, seed: int = 0) -> Path:
    """A small synthetic dark Sony A7S2 DNG (ISO 3200, 1/20 s): a smooth gradient a few
    hundred DN above black plus read noise; needs no reference data."""
    from fractions import Fraction

    import numpy as np

    from expodiff.io.dng import write_dng
    from expodiff.sensor import SensorSpec

    g = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    dn = 800 + (0.002 + 0.01 * (x / width) * (y / height)) * 15583 + g.normal(0, 8, y.shape)
    mosaic = np.clip(np.rint(dn), 0, 16383).astype(np.uint16)
    return write_dng(
        path,
        mosaic,
        SensorSpec.uniform(800, 16383),
        make="SONY",
        model="ILCE-7SM2",
        iso=3200,
        exposure_time=Fraction(1, 20),
    )
