"""ELD and clean-raw loaders on tiny trees laid out like the real datasets."""

import shutil
from fractions import Fraction

import pytest
import torch

from expodiff.config import load_config
from expodiff.data.cleanraw import CleanRawDataset
from expodiff.data.eld import ELDDataset, eld_reference_id, list_eld_cameras
from expodiff.data.factory import ProfileGain, build_dataset, has_split
from expodiff.errors import DataError
from expodiff.io.profiles import load_profile
from expodiff.io.rawio import read_raw
from fixtures_data import (
    ELD_PLAN,
    SONY_BLACK,
    SONY_WHITE,
    make_eld_tree,
    scene_norm,
    to_dn,
    write_raw,
)


@pytest.fixture(scope="module")
def eld_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("eld")
    make_eld_tree(root, "SonyA7S2", scenes=(1, 2))
    make_eld_tree(root, "NikonD850", scenes=(1,), suffix=".nef")
    return root


def test_reference_is_the_nearest_long_exposure():
    assert [eld_reference_id(i) for i in (4, 5, 9, 10, 14, 15)] == [6, 6, 11, 11, 16, 16]
    assert eld_reference_id(2) == 1 and eld_reference_id(1) == 1


def test_pairs_ratio_and_gain(eld_root):
    gain = ProfileGain.for_cameras(["SonyA7S2"])
    ds = ELDDataset(eld_root, gain_for_iso=gain, cameras=["SonyA7S2"], scenes=[1, 2])
    assert len(ds) == 2 * 6
    assert ds.names()[:3] == [f"SonyA7S2/scene-1/IMG_{i:04d}.ARW" for i in (4, 9, 14)]
    sony = load_profile("SonyA7S2")
    for item in range(len(ds)):
        it = ds.items[item]
        s = ds[item]
        image_id = int(it.input_path.stem[-4:])
        iso, seconds = ELD_PLAN[image_id]
        assert it.reference_path.stem == f"IMG_{eld_reference_id(image_id):04d}"
        assert s.exposure_ratio == pytest.approx(it.nominal_ratio)  # 100 x 4 s / (ISO x t)
        assert s.iso == iso
        # the profile's K (DN/e of the camera's raw) on the model's 15583-DN scale
        k = sony.system_gain_at_iso(iso) * 15583 / (SONY_WHITE - SONY_BLACK)
        assert s.system_gain == pytest.approx(k)
        noisy = read_raw(it.input_path).packed_norm() * s.exposure_ratio
        assert torch.equal(s.noisy, noisy)
        assert torch.equal(s.clean, read_raw(it.reference_path).packed_norm().clamp(0, 1))
        # the tree's inputs are the reference scene divided by the ratio (up to rounding)
        assert float((s.noisy - s.clean).abs().max()) < 0.6 * s.exposure_ratio / (
            SONY_WHITE - SONY_BLACK
        )
    only_200 = ELDDataset(
        eld_root, gain_for_iso=gain, cameras=["SonyA7S2"], scenes=[2], ratios=[200]
    )
    assert [it.input_path.name for it in only_200.items] == [
        "IMG_0005.ARW",
        "IMG_0010.ARW",
        "IMG_0015.ARW",
    ]


def test_camera_discovery_and_factory(eld_root):
    assert list_eld_cameras(eld_root) == ["NikonD850", "SonyA7S2"]
    cfg = load_config(
        None, ["data.kind=eld", f"data.root={eld_root}", "data.eld_scenes=[1]", "data.val_crop=8"]
    ).data
    test = build_dataset(cfg, "test")
    assert len(test) == 12  # 2 cameras x 6 inputs
    nikon = test[0]
    assert nikon.camera == "NikonD850" and nikon.name.endswith("IMG_0004.nef")
    nikon_k = load_profile("NikonD850").system_gain_at_iso(nikon.iso)
    nikon_range = read_raw(test.items[0].input_path).sensor.dn_range.mean()
    assert nikon.system_gain == pytest.approx(nikon_k * 15583 / float(nikon_range))
    assert build_dataset(cfg, "val")[0].clean.shape == (4, 8, 8)
    assert not has_split(cfg, "train")
    with pytest.raises(DataError, match="no train"):
        build_dataset(cfg, "train")


def test_eld_bad_inputs(eld_root, tmp_path):
    gain = ProfileGain.for_cameras(["SonyA7S2"])
    with pytest.raises(DataError, match="ELD dataset root not found"):
        ELDDataset(tmp_path / "none", gain_for_iso=gain)
    with pytest.raises(DataError, match="scene-3: ELD scene folder not found"):
        ELDDataset(eld_root, gain_for_iso=gain, cameras=["SonyA7S2"], scenes=[3])
    with pytest.raises(DataError, match="CanonEOS70D: ELD camera folder not found"):
        ELDDataset(eld_root, gain_for_iso=gain, cameras=["CanonEOS70D"])
    with pytest.raises(DataError, match="ratios"):
        ELDDataset(eld_root, gain_for_iso=gain, ratios=[300])
    broken = tmp_path / "broken"
    shutil.copytree(eld_root / "SonyA7S2" / "scene-1", broken / "SonyA7S2" / "scene-1")
    (broken / "SonyA7S2" / "scene-1" / "IMG_0011.ARW").unlink()
    with pytest.raises(DataError, match=r"IMG_0011\.\*: frame is missing"):
        ELDDataset(broken, gain_for_iso=gain, scenes=[1])
    (broken / "SonyA7S2" / "scene-1" / "IMG_0011.ARW").write_bytes(b"")
    (broken / "SonyA7S2" / "scene-1" / "IMG_0011.CR2").write_bytes(b"")
    with pytest.raises(DataError, match="several files for frame 11"):
        ELDDataset(broken, gain_for_iso=gain, scenes=[1])
    # No exposure time in the metadata: the ratio is unknown.
    (broken / "SonyA7S2" / "scene-1" / "IMG_0011.CR2").unlink()
    write_raw(
        broken / "SonyA7S2" / "scene-1" / "IMG_0011.ARW",
        to_dn(scene_norm(24, 32, 0)),
        iso=100,
        exposure_time=None,
    )
    ds = ELDDataset(broken, gain_for_iso=gain, scenes=[1], ratios=[100])
    with pytest.raises(DataError, match="IMG_0011.ARW: no ISO or exposure time"):
        ds[1]


def test_clean_raw_folder(tmp_path):
    folder = tmp_path / "raws"
    for i, (name, iso) in enumerate((("a.dng", 100), ("b.ARW", 200), ("c.NEF", 400))):
        write_raw(folder / name, to_dn(scene_norm(24, 32, i)), iso=iso, exposure_time=Fraction(1))
    (folder / "readme.txt").write_text("not raw")
    ds = CleanRawDataset([folder], camera="SonyA7S2")
    assert ds.names() == ["raws/a.dng", "raws/b.ARW", "raws/c.NEF"]
    s = ds[1]
    assert s.noisy is None and s.system_gain is None and s.iso == 200.0
    assert torch.equal(s.clean, read_raw(folder / "b.ARW").packed_norm().clamp(0, 1))
    cfg = load_config(
        None,
        [
            "data.kind=clean_raw",
            f"data.root={tmp_path}",
            "data.train_sets=[raws]",
            "data.test_sets=['.']",
            "data.patch_size=6",
        ],
    ).data
    assert build_dataset(cfg, "train")[0].clean.shape == (4, 6, 6)
    with pytest.raises(DataError, match="no raw files"):
        build_dataset(cfg, "test")  # root itself holds only the folder
    with pytest.raises(DataError, match="val_sets is empty"):
        build_dataset(cfg, "val")
    with pytest.raises(DataError, match="raw folder not found"):
        CleanRawDataset([tmp_path / "nope"], camera="x")
    (folder / "d.CR2").write_bytes(b"garbage")
    from expodiff.errors import InputFileError

    with pytest.raises(InputFileError, match="d.CR2"):
        CleanRawDataset([folder], camera="x")[3]
