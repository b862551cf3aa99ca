"""``expodiff.enhance`` (the Python API): sources, ratio, samples, tiling, bad inputs."""

from __future__ import annotations

import subprocess
import sys
import warnings
from fractions import Fraction

import numpy as np
import pytest
import torch

from enhance_helpers import TEST_CONFIG, Oracle, save_tiny_model
from expodiff.defaults import TILE, TILE_OVERLAP
from expodiff.diffusion.sampler import sample
from expodiff.errors import ExpodiffError, InputFileError, ModelError
from expodiff.inference.api import EnhanceOptions, EnhanceWarning, enhance
from expodiff.inference.gain import GainSource
from expodiff.inference.model_loading import load_model
from expodiff.inference.ratio import RatioSource
from expodiff.inference.trajectories import sample_seed, tiled
from expodiff.io.frame import frame_from_mosaic
from expodiff.nets.tiling import TiledDenoiser
from expodiff.raw import CFAPattern, pack
from expodiff.sensor import SensorSpec


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return load_model(save_tiny_model(tmp_path_factory.mktemp("m") / "nafnet1"), device="cpu")


def _clean(h: int = 48, w: int = 64, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(4, h, w, generator=g) * 0.3 + 0.05).clamp(0, 1)


def _dark(clean: torch.Tensor, ratio: float, k: float = 2.0, seed: int = 1) -> torch.Tensor:
    """Poisson-Gaussian short exposure (raw_norm, not amplified) of ``clean``."""
    g = torch.Generator().manual_seed(seed)
    electrons = torch.poisson(clean * 15583.0 / (ratio * k), generator=g)
    return (electrons * k + torch.randn(clean.shape, generator=g) * 2.0) / 15583.0


def test_oracle_gives_the_clean_image_and_zero_uncertainty():
    clean = _clean()
    oracle = load_model(Oracle(clean), config=TEST_CONFIG)
    result = enhance(_dark(clean, 50), ratio=50, system_gain=2.0, model=oracle, seed=3, samples=3)
    assert torch.equal(result.raw_norm, clean)
    assert result.uncertainty is not None and float(result.uncertainty.abs().max()) == 0.0
    assert (result.ratio, result.ratio_source) == (50.0, RatioSource.USER)
    assert (result.system_gain, result.gain_source) == (2.0, GainSource.USER)
    assert result.steps == TEST_CONFIG.diffusion.inference_steps and result.samples == 3
    assert result.frame is None and result.srgb is None and not result.warnings
    assert "ratio 50 (user)" in result.summary()


def test_one_sample_equals_the_plain_sampler(tiny):
    """One path run twice: enhance() feeds sample_progressive (what sample() runs) the input
    clipped at white and times r, computed here the same way, with the same seed, network and
    shapes, so the results are equal bit for bit on any CPU (a one-ulp difference in the input
    could change a Poisson draw, so the input must be the same tensor, not a close one)."""
    dark = _dark(_clean(), 80)
    result = enhance(dark, ratio=80, system_gain=2.0, model=tiny, seed=7, steps=3)
    plain = sample(
        tiny.process(),
        tiny.denoiser,
        (dark.clamp(max=1.0) * 80.0)[None],
        exposure_ratio=80.0,
        system_gain=2.0,
        steps=3,
        generator=torch.Generator().manual_seed(7),
    )[0]
    assert result.uncertainty is None
    assert torch.equal(result.raw_norm, plain)


def test_samples_average_independent_trajectories(tiny):
    dark = _dark(_clean(), 80)
    kwargs = {"ratio": 80, "system_gain": 2.0, "model": tiny, "steps": 2}
    result = enhance(dark, seed=5, samples=3, **kwargs)
    singles = [enhance(dark, seed=sample_seed(5, i), **kwargs).raw_norm for i in range(3)]
    stack = torch.stack(singles)
    assert torch.allclose(result.raw_norm, stack.mean(0), atol=1e-6)
    assert torch.allclose(result.uncertainty, stack.std(0, unbiased=False), atol=1e-6)
    assert float(result.uncertainty.max()) > 0  # Poisson re-exposure makes them differ
    assert len({sample_seed(5, i) for i in range(3)} | {sample_seed(6, 1)}) == 4


def test_random_seed_is_reported_and_reproduces(tiny):
    dark = _dark(_clean(), 80)
    first = enhance(dark, ratio=80, system_gain=2.0, model=tiny)
    again = enhance(dark, ratio=80, system_gain=2.0, model=tiny, seed=first.seed)
    assert torch.equal(first.raw_norm, again.raw_norm)


@pytest.mark.slow
def test_tiled_and_untiled_agree_on_a_small_frame(tmp_path):
    """Only the network evaluation is tiled (the re-exposure runs on the full frame). One
    network evaluation agrees to float rounding (the U-Net's margin covers its seams); with
    more steps a rounding difference can change one Poisson draw, after which the random
    streams part: the results are two samples of the same distribution."""
    model = load_model(save_tiny_model(tmp_path / "u", preset="unet-slim"), device="cpu")
    clean = _clean(96, 160)
    dark = _dark(clean, 100)
    kwargs = {"ratio": 100, "system_gain": 2.0, "model": model, "seed": 0}
    whole = enhance(dark, tile=0, steps=1, **kwargs).raw_norm
    tiles = enhance(dark, tile=64, steps=1, **kwargs).raw_norm
    assert float((whole - tiles).abs().max()) < 1e-4
    whole = enhance(dark, tile=0, steps=3, **kwargs).raw_norm
    tiles = enhance(dark, tile=64, steps=3, **kwargs).raw_norm
    assert float((whole - tiles).abs().mean()) < 5e-3
    assert float(tiles.mean()) == pytest.approx(float(whole.mean()), rel=0.01)

    # A per-pixel model is tiled exactly (up to the blend's rounding).
    def per_pixel(state, photon_level=None, noisy=None):  # noqa: ARG001
        return (state * 0.9).clamp(0.0, 1.0)

    pixelwise = {**kwargs, "model": load_model(per_pixel, config=TEST_CONFIG), "steps": 1}
    whole = enhance(dark, tile=0, **pixelwise).raw_norm
    assert torch.allclose(enhance(dark, tile=64, **pixelwise).raw_norm, whole, atol=1e-6)
    # The default: only frames larger than TILE packed pixels are tiled; 0 never tiles.
    assert tiled(model.denoiser, torch.Size([1, 4, 64, 64])) is model.denoiser
    big = tiled(model.denoiser, torch.Size([1, 4, TILE + 8, 64]))
    # the U-Net's receptive field is finite and fits: margins of its radius (no seams)
    from expodiff.nets.receptive import receptive_radius

    radius = receptive_radius(model.denoiser)
    assert isinstance(big, TiledDenoiser) and big.tile == TILE
    assert radius is not None and (big.overlap, big.margin) == (2 * radius + 16, radius)
    assert big.overlap > TILE_OVERLAP
    assert tiled(model.denoiser, torch.Size([1, 4, TILE + 8, 64]), 0) is model.denoiser
    assert EnhanceOptions().tile is None  # the model's default: TILE for this one


def test_over_exposed_input_is_passed_through():
    clean = _clean() * 2  # brighter than the training brightness: auto ratio < 1
    oracle = load_model(Oracle(clean), config=TEST_CONFIG)
    with pytest.warns(EnhanceWarning, match="over-exposed"):
        result = enhance(clean, model=oracle)
    assert result.passed_through and result.ratio == 1.0 and result.estimated_ratio < 1
    assert result.steps == 0 and result.system_gain is None
    assert torch.equal(result.raw_norm, clean.clamp(0, 1))
    assert "passed through" in result.summary()


def test_auto_ratio_from_exif_and_brightness():
    sensor = SensorSpec.uniform(800.0, 16383.0)
    clean = _clean(32, 32)
    dark = _dark(clean, 100)
    mosaic = sensor.denormalize_mosaic(torch.nn.functional.pixel_shuffle(dark[None], 2)[0, 0])
    # pixel_shuffle is not the Bayer layout, but any mosaic serves this test
    frame = frame_from_mosaic(
        mosaic.round().clamp(0, 16383).numpy().astype(np.uint16),
        sensor,
        iso=3200,
        exposure_time=Fraction(1, 20),
        make="SONY",
        model="ILCE-7SM2",
    )
    oracle = load_model(Oracle(pack(torch.zeros(64, 64), CFAPattern.RGGB)), config=TEST_CONFIG)
    result = enhance(frame, model=oracle, target_exposure=5.0)
    assert result.ratio == pytest.approx(100.0) and result.ratio_source is RatioSource.EXIF
    assert result.gain_source is GainSource.PROFILE and "SonyA7S2 at ISO 3200" in result.gain_detail
    result = enhance(frame, model=oracle, target_exposure=5.0, target_iso=6400)
    assert result.ratio == pytest.approx(200.0)
    result = enhance(frame, model=oracle)
    assert result.ratio_source is RatioSource.BRIGHTNESS
    no_time = frame_from_mosaic(frame.mosaic, sensor, iso=3200)
    with pytest.raises(ExpodiffError, match="needs the input's exposure time"):
        enhance(no_time, model=oracle, target_exposure=5.0)


def test_mosaic_array_source_and_srgb():
    sensor = SensorSpec.uniform(64.0, 4095.0, CFAPattern.GRBG)
    g = torch.Generator().manual_seed(0)
    mosaic = (64 + torch.rand(40, 60, generator=g) * 40).round().numpy().astype(np.uint16)
    packed = sensor.normalize_packed(pack(torch.from_numpy(mosaic.astype(np.float32)), sensor.cfa))
    oracle = load_model(Oracle(packed.clamp(0, 1)), config=TEST_CONFIG)
    with pytest.warns(EnhanceWarning, match="no calibrated noise profile for unknown camera"):
        result = enhance(
            mosaic, cfa="GRBG", black_level=64, white_level=4095, model=oracle, ratio=20, srgb=True
        )
    assert result.cfa is CFAPattern.GRBG and result.srgb.shape == (40, 60, 3)
    assert torch.equal(result.raw_norm, packed.clamp(0, 1))
    with pytest.raises(ExpodiffError, match="needs cfa= and white_level="):
        enhance(mosaic, model=oracle)
    with pytest.raises(ExpodiffError, match="packed raw must have 4 channels"):
        enhance(np.zeros((3, 8, 8), np.float32), model=oracle)


def test_non_finite_input_is_an_error_naming_it(tmp_path):
    dark = _dark(_clean(), 50)
    dark[0, 3, 4] = float("nan")
    oracle = load_model(Oracle(_clean()), config=TEST_CONFIG)
    with pytest.raises(InputFileError, match=r"^array: the raw data holds 1 NaN or infinite"):
        enhance(dark, ratio=50, model=oracle)
    mosaic = np.full((32, 32), 900.0, np.float32)
    mosaic[5, 5] = np.inf
    frame = frame_from_mosaic(mosaic, SensorSpec.uniform(800.0, 16383.0), path=tmp_path / "hot.dng")
    with pytest.raises(InputFileError, match="hot.dng: the raw data holds 1 NaN"):
        enhance(frame, ratio=50, model=oracle)


def test_non_finite_output_is_an_error():
    def broken(state, photon_level=None, noisy=None):  # noqa: ARG001
        return torch.full_like(state, float("nan"))

    model = load_model(broken, config=TEST_CONFIG)
    with pytest.raises(ModelError, match="NaN or infinite values"):
        enhance(_dark(_clean(), 50), ratio=50, system_gain=2.0, model=model)


def test_xtrans_frame_does_not_fit_a_bayer_model(tiny):
    sensor = SensorSpec.uniform(0.0, 4095.0, CFAPattern.XTRANS)
    frame = frame_from_mosaic(np.full((36, 36), 100, np.uint16), sensor)
    with pytest.raises(ModelError, match="packs to 9 channels, but the model"):
        enhance(frame, ratio=10, model=tiny)


def test_bad_options(tiny):
    dark = _dark(_clean(), 50)
    for kwargs, match in [
        ({"ratio": 0.5}, "ratio must be a number >= 1"),
        ({"ratio": "x"}, "ratio must be 'auto' or a number"),
        ({"samples": 0}, "samples must be"),
        ({"steps": 0}, "steps must be"),
        ({"tile": -1}, "tile must be"),
        ({"system_gain": -1.0, "ratio": 5}, "system gain must be a positive number"),
        ({"camera": "NoSuchCam", "ratio": 5}, "unknown camera profile"),
    ]:
        with pytest.raises(ExpodiffError, match=match):
            enhance(dark, model=tiny, **kwargs)


def test_expodiff_enhance_is_the_function_and_import_is_cheap():
    import inspect

    import expodiff.inference.api

    assert expodiff.enhance is expodiff.inference.api.enhance
    assert inspect.isfunction(expodiff.enhance)
    clean = _clean()
    oracle = load_model(Oracle(clean), config=TEST_CONFIG)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = expodiff.enhance(_dark(clean, 50), ratio=50, system_gain=2.0, model=oracle)
    assert torch.equal(result.raw_norm, clean)
    code = "import sys, expodiff; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("cfa", [CFAPattern.RGGB, CFAPattern.GBRG, CFAPattern.XTRANS])
def test_developing_in_strips_equals_developing_at_once(cfa):
    from expodiff.inference.render import develop_in_strips
    from expodiff.io.isp import default_demosaic, develop, orient

    channels = 9 if cfa is CFAPattern.XTRANS else 4
    g = torch.Generator().manual_seed(0)
    packed = torch.rand(channels, 22, 18, generator=g)
    wb, matrix = (
        (2.0, 1.0, 1.5, 1.0),
        np.array([[1.6, -0.4, -0.2], [-0.2, 1.4, -0.2], [0, -0.5, 1.5]]),
    )
    whole = orient(develop(packed, cfa, wb, matrix, demosaic=default_demosaic(cfa)), 6)
    strips = develop_in_strips(packed, cfa, wb, matrix, orientation=6, strip=4)
    assert strips.shape == whole.shape
    assert np.allclose(strips, whole, atol=1e-6)
