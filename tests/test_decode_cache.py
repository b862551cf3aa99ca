"""Decoded images kept in memory (issue 12: a photograph is decoded once, not per patch)."""

from __future__ import annotations

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
