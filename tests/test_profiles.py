"""Packaged camera profiles: pinned values, loading, errors, round trips, conversions."""

from __future__ import annotations

import json
import math
from dataclasses import FrozenInstanceError, replace

import pytest

from expodiff.cli import main
from expodiff.errors import InputFileError
from expodiff.io.profiles import (
    list_profiles,
    load_profile,
    load_profile_file,
    profile_from_dict,
    profile_to_dict,
    profile_to_json,
)
from expodiff.noise.camera import CameraProfile, LogLinear, ProfileError

CAMERAS = ["CanonEOS5D4", "CanonEOS700D", "CanonEOS70D", "NikonD850", "SonyA7S2"]


def test_list_profiles():
    assert list_profiles() == CAMERAS


def test_pinned_values():
    sony = load_profile("SonyA7S2")
    assert sony.gain_min == 0.09391607086816033
    assert sony.gain_max == 6.010628535562261
    assert len(sony.tukey_shapes) == 18 and sony.tukey_shapes[4] == 0.0
    assert sony.read_gaussian == LogLinear(
        0.5407496082896145, 1.218237123334061, 0.26751211630129734
    )
    assert sony.read_tukey == LogLinear(0.46210495986526035, 0.5657147358616816, 0.2633712220097871)
    assert sony.row == LogLinear(0.5275360468633209, -0.5917002648887661, 0.29428813016491145)
    assert sony.colour_bias[-1] == (
        4.054170608520508,
        3.8497254848480225,
        4.292275905609131,
        4.0853047370910645,
    )
    assert sony.full_scale_dn == 15583.0 and sony.white_level == 16383.0
    assert sony.black_level_error_at(1600) == 2.428175449371338
    assert sony.black_level_error_at(1700) == 2.428175449371338  # nearest tabulated ISO
    assert "ELD" in sony.source and "PMN" in sony.source
    nikon = load_profile("NikonD850")
    assert nikon.fit == "Profile-1" and nikon.fit_names == ["Profile-1", "Profile-2"]
    assert nikon.gain_max == 26.562516891828878
    assert nikon.with_fit("Profile-2").read_tukey == LogLinear(
        1.0903810226848736, -1.2085295284337048, 0.004102973124808873
    )
    assert load_profile("NikonD850", fit="Profile-2").row.slope == 0.9662340523391197
    assert load_profile("CanonEOS5D4").gain_min == 0.2181895124454343
    assert load_profile("CanonEOS700D").gain_max == 28.648249130566832
    assert len(load_profile("CanonEOS70D").tukey_shapes) == 16


@pytest.mark.data
@pytest.mark.parametrize("name", CAMERAS)
def test_profiles_match_the_eld_release(data_dir, name):
    """The packaged files are a lossless conversion of ../shared/data/cameras/*.json."""
    ref = json.loads((data_dir / "cameras" / f"{name}.json").read_text())
    p = load_profile(name)
    assert p.gain_min == ref["Kmin"] and p.gain_max == ref["Kmax"]
    assert list(p.tukey_shapes) == ref["G_shape"]
    assert [list(r) for r in p.colour_bias] == ref["color_bias"]
    fits = [k for k in ref if k.startswith("Profile-")]
    assert sorted(p.fit_names) == sorted(fits)
    for fit in fits:
        q = p.with_fit(fit)
        for ours, theirs in (
            ("read_gaussian", "g_scale"),
            ("read_tukey", "G_scale"),
            ("row", "R_scale"),
        ):
            m = getattr(q, ours)
            assert (m.slope, m.bias, m.sigma) == tuple(
                ref[fit][theirs][k] for k in ("slope", "bias", "sigma")
            )


@pytest.mark.data
def test_black_level_error_matches_pmn_table(data_dir):
    ref = json.loads((data_dir / "sid_meta" / "SonyA7S2_black_level_error.json").read_text())
    table = dict(load_profile("SonyA7S2").black_level_error)
    assert table == {float(k): v for k, v in ref.items()}


def test_unknown_camera_lists_valid_names():
    with pytest.raises(ProfileError, match="valid: CanonEOS5D4, .*SonyA7S2"):
        load_profile("SonyA7S3")
    with pytest.raises(ValueError, match="unknown camera profile ''; valid: "):  # a ProfileError
        load_profile("")
    assert load_profile("sonya7s2").name == "SonyA7S2"  # case-insensitive
    with pytest.raises(ProfileError, match="valid: Profile-1, Profile-2"):
        load_profile("NikonD850", fit="Profile-3")


def test_profiles_are_frozen():
    p = load_profile("SonyA7S2")
    with pytest.raises(FrozenInstanceError, match="cannot assign to field 'gain_min'"):
        p.gain_min = 1.0  # type: ignore[misc]


def test_json_round_trip(tmp_path):
    for name in CAMERAS:
        p = load_profile(name)
        assert profile_from_dict(json.loads(profile_to_json(p))) == p
        path = tmp_path / f"{name}.json"
        path.write_text(profile_to_json(p))
        q = load_profile_file(path)
        assert q == p and q.path == path


def test_load_profile_file_errors(tmp_path):
    with pytest.raises(InputFileError, match="no such profile"):
        load_profile_file(tmp_path / "missing.json")
    with pytest.raises(InputFileError, match="directory"):
        load_profile_file(tmp_path)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(InputFileError, match="not a JSON"):
        load_profile_file(bad)
    data = profile_to_dict(load_profile("SonyA7S2"))
    data["gain_mni"] = 1.0
    bad.write_text(json.dumps(data))
    with pytest.raises(ProfileError, match="unknown key 'gain_mni'; valid keys"):
        load_profile_file(bad)
    data = profile_to_dict(load_profile("SonyA7S2"))
    data["colour_bias"] = data["colour_bias"][:3]
    with pytest.raises(ProfileError, match="one row of 4 values per tukey shape"):
        profile_from_dict(data)
    data = profile_to_dict(load_profile("SonyA7S2"))
    data["gain_min"] = -1
    with pytest.raises(ProfileError, match="gain_min"):
        profile_from_dict(data)
    del data["fits"]
    with pytest.raises(ProfileError, match="missing key 'fits'"):
        profile_from_dict(data)


def test_gain_from_iso():
    p = load_profile("SonyA7S2")
    assert p.system_gain_at_iso(100) == pytest.approx(p.gain_min)
    assert p.system_gain_at_iso(6400) == pytest.approx(p.gain_max)
    assert p.iso_at_system_gain(p.system_gain_at_iso(2500)) == pytest.approx(2500)
    with pytest.raises(ValueError, match="ISO"):
        p.system_gain_at_iso(-100)
    steep = replace(p, gain_min=0.1, gain_max=64.0)
    with pytest.raises(ValueError, match="<= 0"):
        steep.system_gain_at_iso(10)  # the line extrapolates below zero
    # calibration index: ELD files split [Kmin, Kmax] into equal bins
    assert p.calibration_index(p.gain_min) == 0
    assert p.calibration_index(p.gain_max) == len(p.tukey_shapes) - 1
    assert p.calibration_index(1e-3) == 0 and p.calibration_index(1e3) == 17


def test_rescaled_preserves_electrons():
    p = load_profile("CanonEOS70D")
    q = p.rescaled(4095.0 - 256.0)
    c = q.full_scale_dn / p.full_scale_dn
    assert q.gain_min == pytest.approx(p.gain_min * c)
    k = 3.0
    assert q.read_tukey.median(k * c) == pytest.approx(c * p.read_tukey.median(k))
    assert q.row.median(k * c) == pytest.approx(c * p.row.median(k))
    assert q.colour_bias[0][0] == pytest.approx(c * p.colour_bias[0][0])
    assert q.tukey_shapes == p.tukey_shapes
    assert q.rescaled(p.full_scale_dn).gain_max == pytest.approx(p.gain_max)
    assert p.rescaled(p.full_scale_dn) is p


def test_profile_validation():
    m = LogLinear(0.5, 0.0, 0.1)
    with pytest.raises(ProfileError, match="tukey_shapes"):
        CameraProfile("x", 1.0, 2.0, (), m, m, m, ())
    with pytest.raises(ProfileError, match="sigma"):
        LogLinear(0.5, 0.0, -1.0)
    with pytest.raises(ProfileError, match="finite"):
        LogLinear(math.nan, 0.0, 0.1)


def test_cli_profiles(capsys):
    assert main(["profiles"]) == 0
    out = capsys.readouterr().out
    assert "SonyA7S2" in out and "Profile-2" in out
    assert main(["profiles", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == CAMERAS
    assert rows[-1]["black_level_error"] is True
