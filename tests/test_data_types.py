import pickle

import pytest
import torch

from expodiff.data.types import RawBatch, RawSample, Split, collate_samples
from expodiff.kinds import parse_enum
from expodiff.noise.pair import NoisyPair
from expodiff.raw import CFAPattern


def sample(i: int, noisy: bool = False, size: int = 8) -> RawSample:
    clean = torch.full((4, size, size), 0.1 * i)
    return RawSample(
        clean=clean,
        noisy=clean * 100 if noisy else None,
        exposure_ratio=100.0 if noisy else None,
        system_gain=2.0 + i if noisy else None,
        iso=200.0 * (i + 1),
        camera="SonyA7S2",
        name=f"img{i}",
        white_balance=(2.0, 1.0, 1.5, 1.0),
        colour_matrix=[[1.5, -0.5, 0.0], [0.0, 1.0, 0.0], [0.0, -0.5, 1.5]],
        cfa=CFAPattern.GRBG,
    )


def test_collate_synthetic():
    batch = collate_samples([sample(0), sample(1), sample(2)])
    assert isinstance(batch, RawBatch)
    assert batch.clean.shape == (3, 4, 8, 8) and len(batch) == 3
    assert batch.noisy is None and batch.exposure_ratio is None and batch.system_gain is None
    assert batch.white_balance.shape == (3, 4) and batch.colour_matrix.shape == (3, 3, 3)
    assert batch.iso == [200.0, 400.0, 600.0]
    assert batch.name == ["img0", "img1", "img2"] and batch.cfa == [CFAPattern.GRBG] * 3
    assert not batch.is_real_pair
    with pytest.raises(ValueError, match="synthesise"):
        batch.noisy_pair()


def test_collate_real_pairs_and_noisy_pair():
    batch = collate_samples([sample(1, True), sample(2, True)])
    assert batch.is_real_pair
    pair = batch.noisy_pair()
    assert isinstance(pair, NoisyPair)
    assert torch.equal(pair.noisy, batch.noisy) and torch.equal(pair.clean, batch.clean)
    assert pair.system_gain.tolist() == [3.0, 4.0]
    assert pair.exposure_ratio.tolist() == [100.0, 100.0]
    moved = batch.to("cpu")
    assert torch.equal(moved.clean, batch.clean) and moved.name == batch.name


def test_collate_errors():
    with pytest.raises(ValueError, match="empty"):
        collate_samples([])
    with pytest.raises(ValueError, match="different shapes"):
        collate_samples([sample(0, size=8), sample(1, size=6)])
    with pytest.raises(ValueError, match="real pairs together with synthetic"):
        collate_samples([sample(0, True), sample(1)])


def test_sample_validation_and_pickle():
    s = sample(3, True)
    assert s.colour_matrix[0] == (1.5, -0.5, 0.0) and s.is_real_pair
    again = pickle.loads(pickle.dumps(s))
    assert torch.equal(again.noisy, s.noisy) and again.name == s.name
    with pytest.raises(ValueError, match="differ in shape"):
        RawSample(torch.zeros(4, 4, 4), torch.zeros(4, 2, 2), 1.0, 1.0, None, "c", "n")
    with pytest.raises(ValueError, match="3x3"):
        RawSample(torch.zeros(4, 4, 4), None, None, None, None, "c", "n", colour_matrix=[[1.0]])
    with pytest.raises(ValueError, match="4 gains"):
        RawSample(torch.zeros(4, 4, 4), None, None, None, None, "c", "n", white_balance=(1.0,))


def test_split_parse():
    assert parse_enum(Split, "TRAIN") is Split.TRAIN and parse_enum(Split, Split.VAL) is Split.VAL
    with pytest.raises(ValueError, match="valid: train, val, test"):
        parse_enum(Split, "dev")
