"""build_dataset for the unprocess kind on the shared clean sets, and DataConfig checks."""

import pytest
import torch
from torch.utils.data import DataLoader

from expodiff.config import DataConfig, load_config
from expodiff.data.augment import CropMode, SampleTransform
from expodiff.data.epochs import EpochSampler
from expodiff.data.factory import build_dataset, default_transform, has_split
from expodiff.data.types import RawBatch, Split, collate_samples
from expodiff.data.unprocess_dataset import UnprocessDataset, load_scene_metadata
from expodiff.errors import ConfigError, DataError
from expodiff.kinds import DatasetKind


def test_default_transforms_and_splits():
    cfg = DataConfig(patch_size=64, val_crop=32)
    assert default_transform(cfg, Split.TRAIN) == SampleTransform(CropMode.RANDOM, 64, True)
    assert default_transform(cfg, Split.VAL) == SampleTransform(CropMode.CENTRE, 32)
    assert default_transform(cfg, Split.TEST) == SampleTransform()
    assert default_transform(DataConfig(val_crop=None), Split.VAL) == SampleTransform()
    assert has_split(cfg, "train") and has_split(cfg, "test") and not has_split(cfg, "val")
    assert has_split(DataConfig(kind=DatasetKind.SID_PAIRED), "val")
    with pytest.raises(DataError, match="val_sets is empty"):
        build_dataset(cfg, "val")


def test_data_config_validation():
    for override, message in [
        ("data.patch_size=0", "patch_size must be >= 1"),
        ("data.num_workers=-1", "num_workers"),
        ("data.val_crop=0", "val_crop"),
        ("data.cfa=xtrans", "Bayer"),
        ("data.eld_ratios=[300]", "100 and 200"),
        ("data.kind=sid", "valid: sid_paired"),
        ("data.sid_list=x", "valid keys of data"),
    ]:
        with pytest.raises(ConfigError, match=message):
            load_config(None, [override])
    assert load_config(None, ["data.val_crop=null"]).data.val_crop is None


@pytest.mark.data
@pytest.mark.slow
def test_unprocess_splits_on_the_shared_sets(data_dir):
    cfg = load_config(None, ["data.val_sets=[Kodak24]", "data.patch_size=64"]).data
    train = build_dataset(cfg, "train", seed=0)
    assert isinstance(train, UnprocessDataset) and len(train) == 68 + 18
    train_isos = {m.iso for m in load_scene_metadata(data_dir / "sid_meta/SID_train.info.json")}
    test_isos = {m.iso for m in load_scene_metadata(data_dir / "sid_meta/SID_eval.info.json")}
    s = train[0]
    assert s.clean.shape == (4, 64, 64) and s.iso in train_isos
    val = build_dataset(cfg, "val")
    assert val[0].clean.shape == (4, 128, 128)
    test = build_dataset(cfg, "test")
    assert len(test) == 24 and test[0].clean.shape == (4, 250, 250)
    assert all(test[i].iso in test_isos for i in range(5))
    # The benchmark split is a fixed set: the same in every build.
    again = build_dataset(cfg, "test")
    assert torch.equal(test[7].clean, again[7].clean) and test[7].iso == again[7].iso
    # Batched loading through worker processes with the resumable sampler.
    loader = DataLoader(
        train,
        batch_size=4,
        sampler=EpochSampler(len(train), seed=0),
        num_workers=2,
        collate_fn=collate_samples,
    )
    batch = next(iter(loader))
    assert isinstance(batch, RawBatch) and batch.clean.shape == (4, 4, 64, 64)
    assert (
        batch.noisy is None and 0.0 <= float(batch.clean.min()) <= float(batch.clean.max()) <= 1.0
    )
    with pytest.raises(DataError, match="image folder not found"):
        build_dataset(load_config(None, ["data.train_sets=[NoSuchSet]"]).data, "train")


@pytest.mark.data
def test_scene_metadata_follows_the_official_sid_split(data_dir):
    from expodiff.data.factory import SCENE_METADATA_FILES

    lists = {Split.TRAIN: "train", Split.VAL: "val", Split.TEST: "test"}
    for split, name in lists.items():
        text = (data_dir / "splits" / "sid_official" / f"Sony_{name}_list.txt").read_text()
        official = {line.split()[1].rsplit("/", 1)[1][:-4] for line in text.splitlines() if line}
        scenes = load_scene_metadata(data_dir / "sid_meta" / SCENE_METADATA_FILES[split])
        assert {s.name for s in scenes} == official


@pytest.mark.slow
def test_wb_jitter_scales_red_and_blue_gains_of_training_samples_only(data_dir):
    plain = DataConfig(train_sets=("Kodak24",), test_sets=("Kodak24",))
    jitter = DataConfig(train_sets=("Kodak24",), test_sets=("Kodak24",), wb_jitter=2.0)
    base = build_dataset(plain, "train", seed=3)
    ds = build_dataset(jitter, "train", seed=3)
    ratios = []
    for k in range(6):
        a, b = base[k], ds[k]
        wa, wb = a.white_balance, b.white_balance
        assert wb[1] == wa[1] and wb[3] == wa[3]  # greens untouched
        ratios += [wb[0] / wa[0], wb[2] / wa[2]]
        # The raw colour balance changes with the gains (R plane = camera R / R gain).
        assert not torch.equal(a.clean, b.clean)
    assert all(0.5 - 1e-6 <= r <= 2.0 + 1e-6 for r in ratios)
    assert max(ratios) / min(ratios) > 1.3  # independent draws, not a constant factor
    # The test split (the benchmark's Kodak24) is never jittered.
    t0, t1 = build_dataset(plain, "test", seed=3)[0], build_dataset(jitter, "test", seed=3)[0]
    assert torch.equal(t0.clean, t1.clean) and t0.white_balance == t1.white_balance
    with pytest.raises(ConfigError, match="wb_jitter"):
        load_config(None, ["data.wb_jitter=0.5"])
