"""SID loaders on a tiny tree laid out like SID Sony (DNG files under the real .ARW names)."""

import os
import pickle
from fractions import Fraction

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from expodiff.config import load_config
from expodiff.data.augment import CropMode, SampleTransform
from expodiff.data.factory import ProfileGain, build_dataset
from expodiff.data.sid import (
    SIDPairedDataset,
    SIDSyntheticDataset,
    exposure_from_name,
    read_sid_list,
    sid_exposure_ratio,
)
from expodiff.data.types import collate_samples
from expodiff.errors import DataError
from expodiff.io.profiles import load_profile
from expodiff.io.rawio import read_raw
from fixtures_data import (
    SID_PAIRS,
    SONY_BLACK,
    SONY_WHITE,
    scene_norm,
    to_dn,
    write_raw,
)


@pytest.fixture(scope="module")
def gain():
    return ProfileGain.for_cameras(["SonyA7S2"])


def test_exposure_ratio_from_names():
    assert exposure_from_name("Sony/short/10003_00_0.04s.ARW") == Fraction(1, 25)
    assert exposure_from_name("00001_00_10s.ARW") == 10
    assert sid_exposure_ratio("a_00_0.04s.ARW", "a_00_10s.ARW") == 250.0
    assert sid_exposure_ratio("a_00_0.1s.ARW", "a_00_10s.ARW") == 100.0
    assert sid_exposure_ratio("a_00_0.033s.ARW", "a_00_10s.ARW") == 300.0  # 303 capped
    assert sid_exposure_ratio("a_00_0.1s.ARW", "a_00_30s.ARW") == 300.0
    with pytest.raises(DataError, match="no exposure time in the file name"):
        exposure_from_name("IMG_0001.ARW")


@pytest.mark.parametrize("which", ["official_list", "eld_list", "ratio_list"])
def test_list_formats(sid, which):
    pairs = read_sid_list(getattr(sid, which), sid.root)
    assert [p.short.name for p in pairs] == list(SID_PAIRS)
    assert all(p.short.parent == sid.root / "Sony" / "short" for p in pairs)
    assert all(p.long.parent == sid.root / "Sony" / "long" for p in pairs)
    if which == "official_list":
        assert [p.iso for p in pairs] == [200, 200, 200, 1600]


def test_paired_samples_are_exact(sid, gain):
    ds = SIDPairedDataset(sid.root, sid.official_list, gain_for_iso=gain)
    assert len(ds) == 4
    sony = load_profile("SonyA7S2")
    for i, short_name in enumerate(SID_PAIRS):
        long_name, ratio, iso = sid.pairs[short_name]
        s = ds[i]
        short = read_raw(sid.root / "Sony" / "short" / short_name).packed_norm()
        long = read_raw(sid.root / "Sony" / "long" / long_name).packed_norm()
        assert s.exposure_ratio == ratio and s.iso == iso and s.name == short_name
        assert torch.equal(s.noisy, short * ratio)  # amplified, not clipped
        assert torch.equal(s.clean, long.clamp(0, 1))
        # the profile's K (DN/e of the camera's raw) on the model's 15583-DN scale
        k = sony.system_gain_at_iso(iso) * 15583 / (SONY_WHITE - SONY_BLACK)
        assert s.system_gain == pytest.approx(k)
        assert s.white_balance == pytest.approx((2.0, 1.0, 1.6, 1.0))
        assert s.camera == "SonyA7S2" and s.clean.shape == (4, 16, 24)
        # The amplified short frame matches the reference brightness.
        assert float((s.noisy - s.clean).abs().mean()) < 0.05 * 100


def test_paired_training_crops_and_workers(sid, gain):
    t = SampleTransform(CropMode.RANDOM, 8, augment=True)
    ds = SIDPairedDataset(sid.root, sid.eld_list, gain_for_iso=gain, transform=t, seed=1)
    full = SIDPairedDataset(sid.root, sid.eld_list, gain_for_iso=gain)
    s, f = ds[0], full[0]
    assert s.clean.shape == s.noisy.shape == (4, 8, 8)
    # The noisy crop is the same window (and flips) of the full noisy frame as the clean one.
    ratio_map = {}
    for y in range(9):
        for x in range(17):
            for flip in range(8):
                c = f.clean[:, y : y + 8, x : x + 8]
                n = f.noisy[:, y : y + 8, x : x + 8]
                if flip & 1:
                    c, n = c.flip(-2), n.flip(-2)
                if flip & 2:
                    c, n = c.flip(-1), n.flip(-1)
                if flip & 4:
                    c, n = c.transpose(-2, -1), n.transpose(-2, -1)
                if torch.equal(c, s.clean):
                    ratio_map[(y, x, flip)] = torch.equal(n, s.noisy)
    assert ratio_map and all(ratio_map.values())
    loader = DataLoader(
        pickle.loads(pickle.dumps(ds)), batch_size=2, num_workers=2, collate_fn=collate_samples
    )
    batches = list(loader)
    assert len(batches) == 2 and batches[0].noisy.shape == (2, 4, 8, 8)
    assert torch.equal(batches[0].clean[0], s.clean)  # workers give the same samples
    pair = batches[1].noisy_pair()
    assert pair.exposure_ratio.tolist() == [300.0, 300.0]


def test_synthetic_mode_takes_each_long_frame_once(sid):
    ds = SIDSyntheticDataset(sid.root, sid.official_list)
    assert ds.names() == ["10003_00_10s.ARW", "10006_00_30s.ARW"]
    s = ds[1]
    assert s.noisy is None and s.exposure_ratio is None and s.system_gain is None
    assert s.iso == 1600.0
    long = read_raw(sid.root / "Sony" / "long" / "10006_00_30s.ARW").packed_norm()
    assert torch.equal(s.clean, long.clamp(0, 1))


def test_bad_inputs_name_the_file(sid, gain, tmp_path):
    with pytest.raises(DataError, match="SID dataset root not found"):
        read_sid_list(sid.official_list, tmp_path / "nowhere")
    with pytest.raises(DataError, match="split list not found"):
        read_sid_list(tmp_path / "none.txt", sid.root)
    missing = tmp_path / "missing.txt"
    missing.write_text("10003_00_0.1s.ARW 10003_00_10s.ARW\n10009_00_0.1s.ARW 10003_00_10s.ARW\n")
    with pytest.raises(DataError, match=r"missing.txt:2: file .*10009_00_0.1s.ARW is missing"):
        SIDPairedDataset(sid.root, missing, gain_for_iso=gain)
    wrong_ratio = tmp_path / "wrong.txt"
    wrong_ratio.write_text("10003_00_0.1s.ARW 10003_00_10s.ARW 250\n")
    with pytest.raises(DataError, match="disagrees with the exposure times"):
        read_sid_list(wrong_ratio, sid.root)
    malformed = tmp_path / "malformed.txt"
    malformed.write_text("10003_00_0.1s.ARW\n")
    with pytest.raises(DataError, match="malformed.txt:1: expected"):
        read_sid_list(malformed, sid.root)
    empty = tmp_path / "empty.txt"
    empty.write_text("\n")
    with pytest.raises(DataError, match="empty"):
        read_sid_list(empty, sid.root)


def test_mismatched_short_long_sizes(tmp_path, gain):
    root = tmp_path
    write_raw(
        root / "Sony" / "long" / "1_00_10s.ARW",
        to_dn(scene_norm(24, 24, 0)),
        iso=100,
        exposure_time=Fraction(10),
    )
    write_raw(
        root / "Sony" / "short" / "1_00_0.1s.ARW",
        to_dn(scene_norm(24, 28, 0) / 100),
        iso=100,
        exposure_time=Fraction(1, 10),
    )
    lst = root / "list.txt"
    lst.write_text("1_00_0.1s.ARW 1_00_10s.ARW\n")
    ds = SIDPairedDataset(root, lst, gain_for_iso=gain)
    with pytest.raises(DataError, match=r"short frame .*1_00_0.1s.ARW is 28x24 but reference"):
        ds[0]


def test_missing_iso_is_an_error(tmp_path, gain):
    write_raw(
        tmp_path / "Sony" / "long" / "1_00_10s.ARW",
        to_dn(scene_norm(24, 24, 0)),
        iso=None,
        exposure_time=Fraction(10),
    )
    write_raw(
        tmp_path / "Sony" / "short" / "1_00_0.1s.ARW",
        to_dn(scene_norm(24, 24, 0) / 100),
        iso=None,
        exposure_time=Fraction(1, 10),
    )
    lst = tmp_path / "list.txt"
    lst.write_text("1_00_0.1s.ARW 1_00_10s.ARW\n")
    with pytest.raises(DataError, match="no ISO in the file or the list"):
        SIDPairedDataset(tmp_path, lst, gain_for_iso=gain)[0]
    lst.write_text("1_00_0.1s.ARW 1_00_10s.ARW ISO400 F4\n")
    s = SIDPairedDataset(tmp_path, lst, gain_for_iso=gain)[0]
    assert s.iso == 400.0


def test_factory_builds_sid_splits(sid):
    cfg = load_config(
        None,
        [
            "data.kind=sid_paired",
            f"data.root={sid.root}",
            f"data.sid_lists={sid.ratio_list}",
            "data.patch_size=8",
            "data.val_crop=10",
        ],
    ).data
    train = build_dataset(cfg, "train", seed=3)
    assert train[0].clean.shape == (4, 8, 8) and train[0].noisy is not None
    val = build_dataset(cfg, "val")
    assert val[0].clean.shape == (4, 10, 10)
    test = build_dataset(cfg, "test")
    assert test[0].clean.shape == (4, 16, 24)
    synth = build_dataset(
        load_config(
            None,
            ["data.kind=sid_synthetic", f"data.root={sid.root}", f"data.sid_lists={sid.eld_list}"],
        ).data,
        "test",
    )
    assert len(synth) == 2 and synth[0].noisy is None
    # A folder of lists in the official naming.
    lists = sid.root / "lists"
    lists.mkdir(exist_ok=True)
    os.link(sid.official_list, lists / "Sony_val_list.txt")
    val2 = build_dataset(replace_cfg(cfg, sid_lists=str(lists)), "val")
    assert len(val2) == 4
    with pytest.raises(DataError, match="Sony_test_list.txt or Sony_test.txt"):
        build_dataset(replace_cfg(cfg, sid_lists=str(lists)), "test")
    with pytest.raises(DataError, match="data.root is required"):
        build_dataset(replace_cfg(cfg, root=None), "test")
    with pytest.raises(DataError, match="dataset root .* not found"):
        build_dataset(replace_cfg(cfg, root=str(sid.root / "nope")), "test")


def replace_cfg(cfg, **changes):
    from dataclasses import replace

    return replace(cfg, **changes)


@pytest.mark.data
def test_shared_split_lists_resolve(data_dir):
    from expodiff.data.factory import resolve_sid_list
    from expodiff.data.types import Split

    assert resolve_sid_list("sid_official", Split.TRAIN).name == "Sony_train_list.txt"
    assert resolve_sid_list("eld", Split.VAL).name == "Sony_val.txt"
    single = resolve_sid_list("eld/SID_Sony_15_paired.txt", Split.TEST)
    assert single.is_file() and single.name == "SID_Sony_15_paired.txt"
    lines = single.read_text().split("\n")
    ratios = {line.split()[2] for line in lines if line.strip()}
    assert ratios == {"100", "250", "300"}
    with pytest.raises(DataError, match="neither"):
        resolve_sid_list("no_such_lists", Split.TEST)


def test_profile_gain_errors():
    g = ProfileGain.for_cameras(["SonyA7S2"])
    with pytest.raises(DataError, match="no noise profile loaded"):
        g("NikonD850", 100, 15583.0)
    with pytest.raises(DataError, match="ISO"):
        g("SonyA7S2", -5, 15583.0)
    with pytest.raises(DataError, match="white - black must be positive"):
        g("SonyA7S2", 100, 0.0)
    # on the model's scale: a file whose range is half the full scale holds twice the
    # electrons per raw_norm unit, so K doubles
    assert g("SonyA7S2", 100, 15583.0 / 2) == pytest.approx(2 * load_profile("SonyA7S2").gain_min)
    assert pickle.loads(pickle.dumps(g))("SonyA7S2", 100, 15583.0) == pytest.approx(
        load_profile("SonyA7S2").gain_min
    )
    assert np.isfinite(g("SonyA7S2", 25600, 15583.0))
