import numpy as np
import pytest
import torch

from expodiff.data.augment import (
    CropMode,
    Flips,
    SampleTransform,
    apply_flips,
    centre_crop_origin,
    draw_flips,
    random_crop_origin,
)
from expodiff.data.epochs import EpochSampler
from expodiff.raw import CFAPattern, pack_bayer, unpack_bayer


def colour_coded(cfa: CFAPattern, h: int = 8, w: int = 12) -> torch.Tensor:
    """Packed image whose every photosite holds 10 * plane index + a position code."""
    pmap = torch.tensor(cfa.plane_map(), dtype=torch.float32)
    mosaic = 10 * pmap.repeat(h // 2, w // 2)
    mosaic = mosaic + torch.arange(h * w, dtype=torch.float32).view(h, w) / (h * w)
    return pack_bayer(mosaic, cfa)


@pytest.mark.parametrize("cfa", [CFAPattern.RGGB, CFAPattern.GBRG])
def test_every_augmentation_keeps_plane_meaning(cfa):
    packed = colour_coded(cfa)
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(64):
        t = SampleTransform(CropMode.RANDOM, 4, augment=True)
        (out,) = t.apply([packed], rng)
        assert out.shape == (4, 4, 4) and out.is_contiguous()
        for c in range(4):  # channel c still holds plane c only: R stays R, Gr stays Gr ...
            assert torch.all(out[c].floor() == 10 * c)
        # Still a valid canonical packing: unpack/pack round trip in the same CFA.
        assert torch.equal(pack_bayer(unpack_bayer(out, cfa), cfa), out)
        seen.add(tuple(out[0, 0, :2].tolist()))
    assert len(seen) > 8  # crops and flips vary


def test_flips_match_numpy():
    x = torch.arange(2 * 3 * 5, dtype=torch.float32).view(2, 3, 5)
    ref = x.numpy()
    assert np.array_equal(apply_flips(x, Flips(vertical=True)).numpy(), ref[:, ::-1])
    assert np.array_equal(apply_flips(x, Flips(horizontal=True)).numpy(), ref[:, :, ::-1])
    assert np.array_equal(
        apply_flips(x, Flips(True, True, True)).numpy(), ref[:, ::-1, ::-1].transpose(0, 2, 1)
    )
    assert apply_flips(x, Flips()) is x  # identity does not copy
    draws = {draw_flips(np.random.default_rng(s)) for s in range(200)}
    assert len(draws) == 8  # the whole dihedral group


def test_random_crop_covers_every_position():
    rng = np.random.default_rng(1)
    origins = {random_crop_origin(6, 5, 4, rng) for _ in range(400)}
    assert origins == {(y, x) for y in range(3) for x in range(2)}
    with pytest.raises(ValueError, match="smaller than the crop"):
        random_crop_origin(3, 8, 4, rng)


def test_centre_crop_matches_eld_rounding():
    # ELD crop_center: start = size // 2 - crop // 2
    assert centre_crop_origin(1424, 2128, 512) == (456, 808)
    assert centre_crop_origin(7, 9, 4) == (1, 2)
    t = SampleTransform(CropMode.CENTRE, 4)
    x = torch.arange(7 * 9, dtype=torch.float32).view(1, 7, 9)
    (out,) = t.apply([x])
    assert torch.equal(out, x[:, 1:5, 2:6])
    assert not t.is_random


def test_same_window_and_flips_for_clean_and_noisy():
    clean = torch.rand(4, 10, 10)
    noisy = clean * 3
    t = SampleTransform(CropMode.RANDOM, 6, augment=True)
    for seed in range(10):
        c, n = t.apply([clean, noisy], np.random.default_rng(seed))
        assert torch.allclose(n, c * 3)
        c2, none = t.apply([clean, None], np.random.default_rng(seed))
        assert torch.equal(c, c2) and none is None


def test_transform_errors():
    with pytest.raises(ValueError, match="positive size"):
        SampleTransform(CropMode.RANDOM)
    with pytest.raises(ValueError, match="differ in size"):
        SampleTransform().apply([torch.zeros(4, 4, 4), torch.zeros(4, 2, 4)])
    with pytest.raises(ValueError, match="generator"):
        SampleTransform(augment=True).apply([torch.zeros(4, 4, 4)])
    full = torch.zeros(4, 4, 4)
    assert SampleTransform().apply([full])[0].data_ptr() == full.data_ptr()  # FULL: no copy


def test_epoch_sampler_resume_and_shards():
    n = 7
    stream = EpochSampler(n, seed=3)
    it = iter(stream)
    first = [next(it) for _ in range(3 * n)]
    for e in range(3):  # each epoch is a permutation of the items, tagged with its epoch
        chunk = first[e * n : (e + 1) * n]
        assert sorted(i % n for i in chunk) == list(range(n))
        assert all(i // n == e for i in chunk)
    assert first[:n] != sorted(first[:n])  # shuffled
    resumed = iter(EpochSampler(n, seed=3, start=10))
    assert [next(resumed) for _ in range(5)] == first[10:15]
    ranks = [iter(EpochSampler(n, seed=3, rank=r, world_size=2)) for r in range(2)]
    merged = [next(ranks[k % 2]) for k in range(2 * n)]
    assert merged == first[: 2 * n]
    assert [stream.index_at(p) for p in range(2 * n)] == first[: 2 * n]
    ordered = iter(EpochSampler(3, shuffle=False))
    assert [next(ordered) for _ in range(6)] == [0, 1, 2, 3, 4, 5]
    with pytest.raises(ValueError, match="num_items must be >= 1, got 0"):
        EpochSampler(0)
    with pytest.raises(ValueError, match="rank 2 is outside world size 2"):
        EpochSampler(3, rank=2, world_size=2)
