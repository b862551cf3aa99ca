"""Calibration: estimators on synthetic arrays, dark shading, and `expodiff calibrate` on DNGs.

Frames are generated with known parameters, independently of expodiff's own sampler
(scipy's Tukey-lambda, numpy's Poisson), and rounded to integer DN as a camera stores them.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from scipy import stats

from expodiff.cli import main
from expodiff.io.dark_shading import load_dark_shading, save_dark_shading
from expodiff.io.profiles import load_profile_file
from expodiff.noise import NoiseModel
from expodiff.noise.calibrate import (
    CalibrationError,
    CalibrationFrame,
    FrameKind,
    calibrate_frames,
    classify_frame,
    estimate_dark_stats,
    estimate_gain,
    fit_log_linear,
    fit_tukey_lambda,
)
from expodiff.noise.dark_shading import estimate_dark_shading
from expodiff.raw import CFAPattern, unpack_bayer

BLACK = (512.0, 512.0, 512.0, 512.0)
WHITE = 16383.0
CFA = CFAPattern.GRBG  # a non-RGGB layout: the estimators must use the canonical planes
BIAS = np.array([1.0, -0.5, 0.3, 0.8])  # colour bias, DN, canonical order
RESPONSE = (0.6, 1.0, 0.8, 1.0)  # flat-field signal of each channel relative to green
# True camera: K linear in ISO, sigma_TL and sigma_r log-linear in K, lambda per ISO.
K_MIN, K_MAX = 0.25, 10.0
TL_MODEL = (0.45, 1.1)
ROW_MODEL = (0.55, -0.35)
LAMBDAS = {400: -0.1, 800: -0.05, 1600: 0.0, 6400: 0.08}


def true_values(iso: float) -> dict:
    k = K_MIN + (iso - 100) / 6300 * (K_MAX - K_MIN)
    return {
        "k": k,
        "tukey_scale": math.exp(TL_MODEL[0] * math.log(k) + TL_MODEL[1]),
        "row_sigma": math.exp(ROW_MODEL[0] * math.log(k) + ROW_MODEL[1]),
        "tukey_shape": LAMBDAS[iso],
    }


def make_mosaic(rng, iso: int, level: float = 0.0, h: int = 512, w: int = 512) -> np.ndarray:
    """An integer DN mosaic: Poisson signal (flats) + Tukey read + row noise + bias + black."""
    t = true_values(iso)
    packed = np.zeros((4, h // 2, w // 2))
    if level > 0:
        for c in range(4):
            packed[c] = rng.poisson(level * RESPONSE[c] / t["k"], size=packed.shape[1:]) * t["k"]
    packed += (
        stats.tukeylambda.rvs(t["tukey_shape"], size=packed.shape, random_state=rng)
        * t["tukey_scale"]
    )
    rows = rng.normal(0.0, t["row_sigma"], size=(2, h // 2, 1))
    packed[0:2] += rows[0]
    packed[2:4] += rows[1]
    packed += BIAS.reshape(4, 1, 1) + np.asarray(BLACK).reshape(4, 1, 1)
    mosaic = unpack_bayer(torch.from_numpy(packed), CFA).numpy()
    return np.clip(np.round(mosaic), 0, WHITE).astype(np.uint16)


def frame(mosaic, iso, kind, name=""):
    return CalibrationFrame(mosaic, iso, kind, CFA, BLACK, WHITE, name=name)


# ------------------------------------------------------------------ unit estimators
@pytest.mark.parametrize("lam", [-0.2, 0.0, 0.15])
def test_fit_tukey_lambda_recovers_shape_and_scale(lam):
    rng = np.random.default_rng(0)
    x = stats.tukeylambda.rvs(lam, size=100_000, random_state=rng) * 3.0 + 2.0
    fit = fit_tukey_lambda(x)
    assert fit.shape == pytest.approx(lam, abs=0.02)
    assert fit.scale == pytest.approx(3.0, rel=0.03)
    assert fit.loc == pytest.approx(2.0, abs=0.05)
    assert fit.ppcc > 0.999


def test_fit_tukey_lambda_errors():
    with pytest.raises(CalibrationError, match="at least 16"):
        fit_tukey_lambda(np.zeros(3))
    with pytest.raises(CalibrationError, match="all samples are equal"):
        fit_tukey_lambda(np.ones(100))


def test_classify_frame_rule():
    dark = np.full((4, 4), 520, dtype=np.uint16)
    bright = np.full((4, 4), 3000, dtype=np.uint16)
    assert classify_frame("IMG_0001.ARW", dark, BLACK, WHITE) is FrameKind.DARK
    assert classify_frame("IMG_0002.ARW", bright, BLACK, WHITE) is FrameKind.FLAT
    assert classify_frame("Dark_0002.dng", bright, BLACK, WHITE) is FrameKind.DARK  # name wins
    assert classify_frame("bias_3.dng", bright, BLACK, WHITE) is FrameKind.DARK
    assert classify_frame("FLAT-dim.dng", dark, BLACK, WHITE) is FrameKind.FLAT


def test_dark_stats_and_gain_at_one_iso():
    rng = np.random.default_rng(1)
    darks = [frame(make_mosaic(rng, 1600), 1600, FrameKind.DARK) for _ in range(2)]
    stats_ = estimate_dark_stats(darks)
    t = true_values(1600)
    assert stats_.colour_bias == pytest.approx(tuple(BIAS), abs=0.1)
    assert stats_.row_sigma == pytest.approx(t["row_sigma"], rel=0.1)
    assert stats_.tukey.scale == pytest.approx(t["tukey_scale"], rel=0.05)
    assert stats_.tukey.shape == pytest.approx(t["tukey_shape"], abs=0.03)
    flats = [frame(make_mosaic(rng, 1600, 3000.0), 1600, FrameKind.FLAT) for _ in range(2)]
    gain = estimate_gain(flats, colour_bias=stats_.colour_bias, dark_points=stats_.pair_points)
    assert gain.system_gain == pytest.approx(t["k"], rel=0.03)
    assert gain.pairs == 1 and len(gain.points) == 4


def test_gain_needs_pairs_and_signal_range():
    rng = np.random.default_rng(2)
    one = [frame(make_mosaic(rng, 400, 2000.0), 400, FrameKind.FLAT)]
    with pytest.raises(CalibrationError, match="no pair of flat frames"):
        estimate_gain(one)
    flat = np.full((8, 8), 3000, dtype=np.uint16)
    same = [
        frame(flat + rng.integers(0, 3, (8, 8)).astype(np.uint16), 400, FrameKind.FLAT)
        for _ in range(2)
    ]
    with pytest.raises(CalibrationError, match="too narrow a range"):
        estimate_gain(same)


def test_fit_log_linear():
    k = np.array([0.5, 2.0, 8.0])
    m = fit_log_linear(k, np.exp(0.4 * np.log(k) + 1.0))
    assert (m.slope, m.bias) == pytest.approx((0.4, 1.0))
    assert m.sigma == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(CalibrationError, match="two ISOs"):
        fit_log_linear([1.0], [2.0])


def test_calibrate_frames_errors():
    rng = np.random.default_rng(3)
    with pytest.raises(CalibrationError, match="no calibration frames"):
        calibrate_frames([])
    one_iso = [
        frame(make_mosaic(rng, 400, h=64, w=64), 400, FrameKind.DARK),
        frame(make_mosaic(rng, 400, 2000.0, h=64, w=64), 400, FrameKind.FLAT),
        frame(make_mosaic(rng, 400, 2000.0, h=64, w=64), 400, FrameKind.FLAT),
    ]
    with pytest.raises(CalibrationError, match="all frames are at ISO 400.*two ISOs"):
        calibrate_frames(one_iso)
    no_flats = one_iso + [frame(make_mosaic(rng, 1600, h=64, w=64), 1600, FrameKind.DARK)]
    with pytest.raises(CalibrationError, match="ISO 1600 has no flat frames"):
        calibrate_frames(no_flats)


# ---------------------------------------------------------------------- dark shading
def test_dark_shading_recovers_per_pixel_lines():
    rng = np.random.default_rng(4)
    h, w = 6, 8
    k_low, b_low = rng.normal(0, 1e-3, (h, w)), rng.normal(0, 2, (h, w))
    k_high, b_high = rng.normal(0, 2e-3, (h, w)), rng.normal(0, 3, (h, w))
    means = {}
    for iso in (100, 400, 1600, 3200, 6400):
        k, b = (k_low, b_low) if iso <= 1600 else (k_high, b_high)
        means[iso] = k * iso + b + (0.5 if iso == 400 else 0.0)  # a black-level error at 400
    ds = estimate_dark_shading(means, split_iso=1600)
    assert np.allclose(ds.high_k, k_high, atol=1e-6) and np.allclose(ds.high_b, b_high, atol=1e-3)
    ble = dict(ds.black_level_error)
    assert ble[400] > 0.25 and abs(ble[3200]) < 1e-4
    for iso in means:
        assert np.allclose(ds.map_for_iso(iso), means[iso], atol=0.3)
    mosaic = np.full((h, w), 600, dtype=np.uint16)
    corrected = ds.subtract(mosaic, 3200)
    assert corrected.dtype == np.float32
    assert np.allclose(corrected, 600 - means[3200], atol=1e-3)
    assert torch.allclose(
        ds.subtract(torch.from_numpy(mosaic.astype(np.float32)), 3200), torch.from_numpy(corrected)
    )
    with pytest.raises(ValueError, match="calibrate with frames of this size"):
        ds.subtract(np.zeros((4, 4)), 100)


def test_dark_shading_single_branch_and_file_round_trip(tmp_path):
    ds = estimate_dark_shading({800: np.full((2, 2), 3.0)}, split_iso=1600)
    assert np.all(ds.low_k == 0) and np.all(ds.high_b == 3.0)  # one ISO: flat, both branches
    path = tmp_path / "ds.npz"
    save_dark_shading(ds, path)
    back = load_dark_shading(path)
    assert np.array_equal(back.low_b, ds.low_b) and back.split_iso == 1600
    assert back.black_level_error == ds.black_level_error
    (tmp_path / "bad.npz").write_bytes(b"nope")
    from expodiff.errors import InputFileError

    with pytest.raises(InputFileError, match="not a dark-shading file"):
        load_dark_shading(tmp_path / "bad.npz")


# ------------------------------------------------------------------- files and CLI
def write_frames(folder, rng, *, isos=(400, 1600, 6400), model="Test Cam", darks=3, size=512):
    from expodiff.io.writers import write_dng
    from expodiff.sensor import SensorSpec

    sensor = SensorSpec(BLACK, WHITE, CFA)
    folder.mkdir(parents=True, exist_ok=True)
    for iso in isos:
        for j in range(darks):
            write_dng(
                folder / f"dark_iso{iso}_{j}.dng",
                make_mosaic(rng, iso, h=size, w=size),
                sensor,
                make="Acme",
                model=model,
                iso=iso,
                exposure_time=1 / 4000,
            )
        for j in range(2):  # one flat pair; dark pairs anchor the photon-transfer line at 0
            write_dng(
                folder / f"IMG_{iso}_{j}.dng",
                make_mosaic(rng, iso, 3000.0, size, size),
                sensor,
                make="Acme",
                model=model,
                iso=iso,
                exposure_time=1 / 100,
            )


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory):
    """`expodiff calibrate` on DNG frames with known parameters at three ISOs."""
    root = tmp_path_factory.mktemp("calib")
    write_frames(root / "frames", np.random.default_rng(10))
    (root / "frames" / "notes.txt").write_text("not a raw file")
    out = root / "mycam.json"
    code = main(
        ["calibrate", str(root / "frames"), "-o", str(out), "--plot", str(root / "fits.png")]
    )
    assert code == 0
    return root, out


@pytest.mark.slow
def test_calibrate_recovers_known_parameters(calibrated):
    _, out = calibrated
    profile = load_profile_file(out)
    assert profile.name == "TestCam" and profile.make == "Acme"
    assert profile.full_scale_dn == WHITE - 512 and profile.black_level == 512
    assert [c.iso for c in profile.calibration] == [400, 1600, 6400]
    for c in profile.calibration:
        t = true_values(c.iso)
        assert c.system_gain == pytest.approx(t["k"], rel=0.05), c.iso
        assert c.row_sigma == pytest.approx(t["row_sigma"], rel=0.10), c.iso
        assert c.tukey_scale == pytest.approx(t["tukey_scale"], rel=0.10), c.iso
        assert c.tukey_shape == pytest.approx(t["tukey_shape"], abs=0.05), c.iso
        # the per-channel mean also averages the 256 row offsets of each of the 3 frames
        tolerance = 0.05 + 4 * t["row_sigma"] / math.sqrt(256 * 3)
        assert c.colour_bias == pytest.approx(tuple(BIAS), abs=tolerance)
    # the joint model and K(ISO) line
    assert profile.gain_min == pytest.approx(K_MIN, rel=0.05)
    assert profile.gain_max == pytest.approx(K_MAX, rel=0.05)
    assert profile.read_tukey.slope == pytest.approx(TL_MODEL[0], abs=0.05)
    assert profile.row.slope == pytest.approx(ROW_MODEL[0], abs=0.08)
    assert profile.tukey_shapes == tuple(c.tukey_shape for c in profile.calibration)


@pytest.mark.slow
def test_calibrate_outputs_are_usable(calibrated):
    root, out = calibrated
    profile = load_profile_file(out)
    assert (root / "fits.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert profile.dark_shading == "mycam.darkshading.npz"
    ds = load_dark_shading(root / profile.dark_shading)
    assert ds.shape == (512, 512)
    assert abs(ds.map_for_iso(1600).mean()) < 1.0  # frames without fixed pattern: ~ the bias
    # the profile drives synthesis (rescaled to the model's 15583 scale, electrons preserved)
    model = NoiseModel.from_preset("eld+bias", [profile])
    p = model.params_for_iso(1600)
    assert p.system_gain.item() == pytest.approx(
        true_values(1600)["k"] * 15583 / (WHITE - 512), rel=0.05
    )
    assert model.synthesize(torch.rand(1, 4, 8, 8), params=p).noisy.shape == (1, 4, 8, 8)
    data = json.loads(out.read_text())
    assert data["format"] == "expodiff-camera-profile/1" and "calibrated" in data["fits"]


@pytest.mark.slow
def test_calibrate_refuses_to_overwrite(calibrated, capsys):
    root, out = calibrated
    assert main(["calibrate", str(root / "frames"), "-o", str(out)]) != 0
    assert "already exists" in capsys.readouterr().err


def test_calibrate_cli_errors(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("hello")
    assert main(["calibrate", str(empty), "-o", str(tmp_path / "p.json")]) == 2
    assert "no raw frames found" in capsys.readouterr().err

    assert main(["calibrate", str(tmp_path / "nope"), "-o", str(tmp_path / "p.json")]) == 2
    assert "no such folder" in capsys.readouterr().err

    rng = np.random.default_rng(5)
    mixed = tmp_path / "mixed"
    write_frames(mixed, rng, isos=(400,), darks=1, size=32)
    write_frames(mixed / "other", rng, isos=(1600,), darks=1, size=32, model="Other Cam")
    for p in (mixed / "other").iterdir():
        p.rename(mixed / f"other_{p.name}")
    assert main(["calibrate", str(mixed), "-o", str(tmp_path / "p.json")]) == 2
    err = capsys.readouterr().err
    assert "several cameras" in err and "Other Cam" in err and "Test Cam" in err

    single = tmp_path / "single"
    write_frames(single, rng, isos=(800,), darks=2, size=32)
    assert main(["calibrate", str(single), "-o", str(tmp_path / "p.json")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("expodiff: error: ") and "two ISOs" in err
    assert err.count("\n") == 1  # one line, no traceback
    assert not (tmp_path / "p.json").exists()


def test_frames_with_their_own_black_levels():
    """Cameras reading black from masked pixels report one per frame: each frame uses its own."""
    rng = np.random.default_rng(6)
    frames = []
    for iso in (400, 6400):
        for j in range(4):
            kind = FrameKind.DARK if j < 2 else FrameKind.FLAT
            mosaic = make_mosaic(rng, iso, 0.0 if j < 2 else 3000.0, h=128, w=128)
            shift = 3 * j  # this frame's black level is higher by `shift` DN
            black = tuple(b + shift for b in BLACK)
            frames.append(CalibrationFrame(mosaic + np.uint16(shift), iso, kind, CFA, black, WHITE))
    result = calibrate_frames(frames)
    assert any("black/white levels differ" in n for n in result.warnings)
    assert result.profile.black_level == pytest.approx(512 + 4.5)
    for r in result.per_iso:
        assert r.gain.system_gain == pytest.approx(true_values(r.iso)["k"], rel=0.1)
        assert r.dark.colour_bias == pytest.approx(tuple(BIAS), abs=0.5)
    with pytest.raises(CalibrationError, match="CFA layout"):
        calibrate_frames(
            frames[:-1]
            + [
                CalibrationFrame(
                    frames[-1].mosaic, 6400, FrameKind.FLAT, CFAPattern.RGGB, BLACK, WHITE
                )
            ]
        )


def test_calibrate_frames_of_different_sizes_is_one_line(tmp_path, capsys):
    """Frames of one ISO in two sizes (a crop mode, say) are refused, naming both sizes."""
    rng = np.random.default_rng(7)
    folder = tmp_path / "sizes"
    write_frames(folder, rng, isos=(400, 1600), darks=2, size=32)
    write_frames(tmp_path / "small", rng, isos=(400,), darks=0, size=24)
    for p in (tmp_path / "small").iterdir():
        p.rename(folder / f"small_{p.name}")
    code = main(["calibrate", str(folder), "-o", str(tmp_path / "p.json")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith("expodiff: error: ")
    assert "differ in size" in err and "32 x 32" in err and "24 x 24: small_IMG_400_0.dng" in err
    assert not (tmp_path / "p.json").exists()


def test_calibrate_saturated_flats_say_clipped(tmp_path, capsys):
    """Flat fields at the white level: the error says they are clipped, not 'too narrow'."""
    from expodiff.io.writers import write_dng
    from expodiff.sensor import SensorSpec

    rng = np.random.default_rng(8)
    folder = tmp_path / "saturated"
    write_frames(folder, rng, isos=(400, 1600), darks=2, size=32)
    sensor = SensorSpec(BLACK, WHITE, CFA)
    for j in range(2):  # ISO 1600's flats replaced by frames clipped at white
        write_dng(
            folder / f"IMG_1600_{j}.dng",
            make_mosaic(rng, 1600, 40000.0, 32, 32),
            sensor,
            make="Acme",
            model="Test Cam",
            iso=1600,
            exposure_time=1 / 100,
            overwrite=True,
        )
    code = main(["calibrate", str(folder), "-o", str(tmp_path / "p.json")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert "ISO 1600: every flat pair is clipped at the white level" in err
    assert "IMG_1600_0.dng / IMG_1600_1.dng" in err and "darker" in err


def test_partly_clipped_flats_warn():
    """One of two flat levels clipped: K is fitted on the other, with a warning naming it."""
    rng = np.random.default_rng(9)
    flats = [frame(make_mosaic(rng, 1600, 3000.0), 1600, FrameKind.FLAT, f"ok{j}") for j in (0, 1)]
    flats += [
        frame(make_mosaic(rng, 1600, 40000.0), 1600, FrameKind.FLAT, f"white{j}") for j in (0, 1)
    ]
    darks = [frame(make_mosaic(rng, 1600), 1600, FrameKind.DARK) for _ in range(2)]
    dark = estimate_dark_stats(darks)
    with pytest.warns(UserWarning, match=r"white0 / white1 clipped at the white level"):
        gain = estimate_gain(flats, colour_bias=dark.colour_bias, dark_points=dark.pair_points)
    assert gain.system_gain == pytest.approx(true_values(1600)["k"], rel=0.05)


def test_one_photon_transfer_line_for_calibration_and_the_blind_fit():
    """fit_transfer_line is the weighted least squares of numpy's lstsq (float64 tolerance),
    with the blind fit's degenerate cases: one distinct mean gives K = 0, fewer than three
    points an infinite error."""
    import math

    import numpy as np

    from expodiff.inference.gain import _blind
    from expodiff.noise.photon_transfer import fit_transfer_line

    assert _blind.fit_transfer_line is fit_transfer_line  # the blind fit uses the same line
    rng = np.random.default_rng(0)
    m = rng.uniform(10, 1000, 40)
    v = 2.5 * m + 7.0 + rng.normal(0, 5, 40)
    w = 1.0 / v**2
    k, c, err = fit_transfer_line(m, v, w)
    sw = np.sqrt(w)
    design = np.stack([m, np.ones_like(m)], axis=1)
    (k_ls, c_ls), *_ = np.linalg.lstsq(design * sw[:, None], v * sw, rcond=None)
    assert k == pytest.approx(k_ls, rel=1e-9) and c == pytest.approx(c_ls, rel=1e-9, abs=1e-9)
    assert 0 < err < 0.1
    assert fit_transfer_line([5.0, 5.0, 5.0], [1.0, 2.0, 3.0], [1.0, 1.0, 2.0]) == (
        0.0,
        pytest.approx(2.25),
        math.inf,
    )
    k2, c2, err2 = fit_transfer_line([1.0, 3.0], [3.0, 7.0], [1.0, 1.0])
    assert (k2, c2, err2) == (pytest.approx(2.0), pytest.approx(1.0), math.inf)
