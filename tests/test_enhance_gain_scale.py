"""K on the file's own DN scale (issue 13): a profile's or the user's K is DN per electron of
the raw file, converted to the model's ``full_scale_dn`` with the file's ``white - black``."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import torch

from cli_helpers import run_cli
from enhance_helpers import FULL_SCALE_DN, TEST_CONFIG, Oracle, save_tiny_model
from expodiff.errors import ExpodiffError
from expodiff.inference.api import enhance
from expodiff.inference.gain import GainSource, resolve_gain
from expodiff.inference.gain._estimate import blind_gain, model_scale_gain, profile_gain
from expodiff.inference.model_loading import load_model
from expodiff.io.dng import write_dng
from expodiff.io.frame import frame_from_mosaic
from expodiff.io.profiles import load_profile
from expodiff.raw import CFAPattern, unpack
from expodiff.sensor import SensorSpec

# A Canon-like raw: 14-bit with Canon's black 2048 and a white below the 14-bit top.
CANON_BLACK, CANON_WHITE = 2048.0, 15400.0
CANON_RANGE = CANON_WHITE - CANON_BLACK  # 13352 DN
GAIN_RANGE = (0.1, 30.0)


def _canon_k(iso: float = 3200) -> float:
    """The packaged CanonEOS70D profile's K at ``iso`` (DN per electron of the camera's raw)."""
    return load_profile("CanonEOS70D").system_gain_at_iso(iso)


def _canon_frame(file_gain: float, seed: int = 0, size: int = 256):
    """A smooth scene shot with Poisson noise of ``file_gain`` DN per electron on the Canon-like
    DN scale (plus 2 DN of read noise), as a RawFrame of the Canon EOS 70D at ISO 3200."""
    g = torch.Generator().manual_seed(seed)
    yy = torch.linspace(0, 1, size).view(-1, 1)
    xx = torch.linspace(0, 1, size).view(1, -1)
    clean = (0.01 + 0.05 * xx * yy).expand(4, -1, -1)  # 10-60 electrons: a dark frame
    electrons = torch.poisson(clean * CANON_RANGE / file_gain, generator=g)
    dn = CANON_BLACK + electrons * file_gain + torch.randn(clean.shape, generator=g) * 2.0
    mosaic = unpack(dn, CFAPattern.RGGB).round().clamp(0, 16383).numpy().astype(np.uint16)
    sensor = SensorSpec.uniform(CANON_BLACK, CANON_WHITE, CFAPattern.RGGB)
    return frame_from_mosaic(
        mosaic,
        sensor,
        make="Canon",
        model="Canon EOS 70D",
        iso=3200,
        exposure_time=Fraction(1, 100),
    )


def test_model_scale_conversion():
    assert model_scale_gain(2.0, 15583.0, FULL_SCALE_DN) == pytest.approx(2.0)
    assert model_scale_gain(2.0, CANON_RANGE, FULL_SCALE_DN) == pytest.approx(
        2.0 * 15583.0 / 13352.0
    )
    assert model_scale_gain(2.0, None, FULL_SCALE_DN) == 2.0  # a packed raw_norm array
    with pytest.raises(ValueError, match="must be positive"):
        model_scale_gain(2.0, 0.0, FULL_SCALE_DN)
    sony = load_profile("SonyA7S2")
    # without a file range, the profile's own DN scale stands for the file's
    assert profile_gain(sony, 3200, FULL_SCALE_DN) == pytest.approx(sony.system_gain_at_iso(3200))
    assert profile_gain(sony, 3200, FULL_SCALE_DN, 15871.0) == pytest.approx(
        sony.system_gain_at_iso(3200) * 15583 / 15871
    )


def test_profile_k_is_converted_with_the_file_range():
    frame = torch.zeros(4, 64, 64)
    kwargs = {"full_scale_dn": FULL_SCALE_DN, "gain_range": GAIN_RANGE}
    canon = {"make": "Canon", "model": "Canon EOS 70D", "iso": 3200}
    est, msgs = resolve_gain(frame, dn_range=CANON_RANGE, **canon, **kwargs)
    k = _canon_k()
    assert est.source is GainSource.PROFILE and msgs == []
    assert est.file_gain == pytest.approx(k) and est.dn_range == CANON_RANGE
    assert est.system_gain == pytest.approx(k * 15583 / 13352)  # 16.7 % more than k
    assert "13352-DN range" in est.detail and "15583-DN scale" in est.detail
    # on a file already on the model's scale nothing changes and nothing is said
    est, _ = resolve_gain(frame, dn_range=FULL_SCALE_DN, **canon, **kwargs)
    assert est.system_gain == pytest.approx(k) and est.detail == "profile CanonEOS70D at ISO 3200"
    # the user's K is the file's too
    est, _ = resolve_gain(frame, system_gain=5.0, dn_range=CANON_RANGE, **kwargs)
    assert (est.source, est.file_gain) == (GainSource.USER, 5.0)
    assert est.system_gain == pytest.approx(5.0 * 15583 / 13352)
    with pytest.raises(ExpodiffError, match="white - black must be a positive number"):
        resolve_gain(frame, system_gain=5.0, dn_range=-3.0, **kwargs)


def test_converted_profile_k_matches_the_noise_the_file_holds():
    """The noise in a Canon-like file shot at the profile's K, measured blind (in raw_norm,
    so on the model's scale whatever the file's range), agrees with the converted profile K
    and not with the profile's K taken unchanged (16.7 % lower)."""
    k = _canon_k()
    frame = _canon_frame(k)
    packed = frame.packed_norm()
    measured = blind_gain(packed, FULL_SCALE_DN, GAIN_RANGE, CANON_RANGE)
    assert not measured.clamped
    converted, _ = resolve_gain(
        packed,
        full_scale_dn=FULL_SCALE_DN,
        gain_range=GAIN_RANGE,
        make=frame.make,
        model=frame.model,
        iso=frame.iso,
        dn_range=CANON_RANGE,
    )
    assert converted.system_gain == pytest.approx(measured.system_gain, rel=0.05)
    assert abs(k / measured.system_gain - 1) > 0.1  # unconverted: clearly too low
    assert measured.file_gain == pytest.approx(k, rel=0.05)  # the blind K, on the file's DN


def test_api_converts_k_of_a_canon_like_frame():
    frame = _canon_frame(_canon_k())
    oracle = load_model(Oracle(torch.zeros(4, 256, 256)), config=TEST_CONFIG)
    result = enhance(frame, model=oracle, ratio=5, seed=0)
    assert result.gain_source is GainSource.PROFILE
    assert result.system_gain == pytest.approx(_canon_k() * 15583 / 13352)
    assert "13352-DN range" in result.summary()
    result = enhance(frame, model=oracle, ratio=5, seed=0, system_gain=4.0)
    assert result.system_gain == pytest.approx(4.0 * 15583 / 13352)
    # a packed raw_norm array has no DN range: its K is the model's
    result = enhance(frame.packed_norm(), model=oracle, ratio=5, seed=0, system_gain=4.0)
    assert result.system_gain == 4.0


@pytest.mark.data
def test_cli_states_the_conversion_for_a_canon_like_dng(tmp_path, capsys):
    frame = _canon_frame(_canon_k())
    path = write_dng(
        tmp_path / "canon.dng",
        frame.mosaic,
        frame.sensor,
        white_balance=(2.0, 1.0, 1.5, 1.0),
        colour_matrix=np.eye(3),
        make="Canon",
        model="Canon EOS 70D",
        iso=3200,
        exposure_time=Fraction(1, 100),
    )
    model = save_tiny_model(tmp_path / "model")
    code, out, err = run_cli(
        capsys, "enhance", path, "-o", tmp_path / "out.png", "--model", model, "--ratio", "50"
    )
    assert code == 0, err
    k = _canon_k()
    expected = (
        f"K {k * 15583 / 13352:.3g} DN/e (profile CanonEOS70D at ISO 3200; {k:.3g} DN/e of "
        f"the file's 13352-DN range = {k * 15583 / 13352:.3g} on the model's 15583-DN scale)"
    )
    assert expected in out
