"""Decoded images kept in memory (issue 12: a photograph is decoded once, not per patch)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from expodiff.data.augment import SampleTransform
from expodiff.data.unprocess_dataset import (
    DecodedImages,
    SceneMetadata,
    UnprocessDataset,
    read_srgb_array,
)

SCENES = [SceneMetadata("s", 800.0, (2.0, 1.0, 1.5, 1.0), ((1, 0, 0), (0, 1, 0), (0, 0, 1)))]


@pytest.fixture
def photos(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "photos"
    folder.mkdir()
    for i, (h, w) in enumerate([(96, 128), (130, 90), (64, 64)]):
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    return folder


def test_samples_are_identical_with_and_without_the_cache(photos):
    def samples(mb):
        ds = UnprocessDataset(
            [photos], SCENES, transform=SampleTransform("random", 16), seed=3, decode_cache_mb=mb
        )
        return [ds[i % len(ds)] for i in range(9)]  # three epochs: cache hits from the 2nd

    for a, b in zip(samples(0), samples(64), strict=True):
        assert torch.equal(a.clean, b.clean) and a.name == b.name
    whole0 = UnprocessDataset([photos], SCENES, seed=1)[1].clean
    whole1 = UnprocessDataset([photos], SCENES, seed=1, decode_cache_mb=64)[1].clean
    assert torch.equal(whole0, whole1)


def test_the_cache_keeps_the_most_recent_images_within_its_budget(photos):
    files = sorted(photos.iterdir())
    sizes = [read_srgb_array(f).nbytes for f in files]
    cache = DecodedImages(sizes[0] + sizes[1])
    for f in files[:2]:
        cache.get(f)
    assert list(cache.images) == files[:2] and cache.used == sizes[0] + sizes[1]
    cache.get(files[0])  # now the most recent
    cache.get(files[2])  # evicts files[1], the least recently used
    assert list(cache.images) == [files[0], files[2]]
    assert cache.used == sizes[0] + sizes[2] <= cache.max_bytes
    assert np.array_equal(cache.get(files[1]), read_srgb_array(files[1]))


def test_no_cache_keeps_nothing(photos):
    cache = DecodedImages(0)
    for f in sorted(photos.iterdir()):
        cache.get(f)
    assert cache.images == {} and cache.used == 0
    with pytest.raises(ValueError, match="decode_cache_mb must be >= 0, got -1"):
        UnprocessDataset([photos], SCENES, decode_cache_mb=-1)


def test_a_folder_splits_into_train_val_and_test(tmp_path):
    """Every 10th file (sorted, from the first) is held back: i % 20 == 10 'NAME:val',
    i % 20 == 0 'NAME:test'; 'NAME:train' is the rest. No file is in two parts."""
    from expodiff.data.base import HOLDOUT_EVERY, files_of_folders, split_set_part
    from expodiff.data.unprocess_dataset import list_images

    folder = tmp_path / "Photos"
    folder.mkdir()
    for i in range(43):
        Image.new("RGB", (8, 8)).save(folder / f"p{i:02d}.png")
    val, val_keys = files_of_folders([f"{folder}:val"], list_images)
    test, _ = files_of_folders([f"{folder}:test"], list_images)
    train, _ = files_of_folders([f"{folder}:train"], list_images)
    whole, _ = files_of_folders([folder], list_images)
    assert HOLDOUT_EVERY == 10
    assert [p.name for p in val] == ["p10.png", "p30.png"]
    assert [p.name for p in test] == ["p00.png", "p20.png", "p40.png"]
    assert val_keys == ["Photos/p10.png", "Photos/p30.png"]
    assert sorted(val + test + train) == whole and len(train) == 38
    assert not (set(val) & set(train) or set(test) & set(train) or set(val) & set(test))
    assert split_set_part("C:/data/Photos") == (Path("C:/data/Photos"), None)
    assert split_set_part("/x/Photos:val") == (Path("/x/Photos"), "val")
    assert split_set_part("/x/Photos:test") == (Path("/x/Photos"), "test")


@pytest.mark.data
def test_photos_val_through_the_config(data_dir):
    from expodiff.config import DataConfig
    from expodiff.data.factory import build_dataset
    from expodiff.kinds import Split

    cfg = DataConfig(train_sets=("Photos:train",), val_sets=("Photos:val",), val_crop=32)
    train = build_dataset(cfg, Split.TRAIN, seed=0)
    val = build_dataset(cfg, Split.VAL, seed=0)
    photos = len(list((data_dir / "clean" / "Photos").glob("*.jpg")))
    test = build_dataset(replace(cfg, val_sets=("Photos:test",)), Split.VAL, seed=0)
    assert len(val) + len(test) == (photos + 9) // 10
    assert len(train) + len(val) + len(test) == photos
    assert not set(train.keys) & set(val.keys) and not set(test.keys) & (
        set(val.keys) | set(train.keys)
    )
    assert val[0].clean.shape == (4, 32, 32)
