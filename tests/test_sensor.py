import pytest
import torch

from expodiff.raw import CFAPattern, pack
from expodiff.sensor import SensorSpec


def test_normalize_round_trip_packed_and_mosaic():
    spec = SensorSpec((127, 128, 129, 130), 4095, CFAPattern.GRBG)
    mosaic = torch.randint(127, 4096, (1, 8, 10)).float()
    norm = spec.normalize_mosaic(mosaic)
    assert torch.allclose(spec.denormalize_mosaic(norm), mosaic, atol=1e-3)
    # Packed normalisation agrees with mosaic normalisation, channel by channel.
    packed = pack(mosaic, spec.cfa)
    assert torch.allclose(spec.normalize_packed(packed), pack(norm, spec.cfa), atol=1e-6)
    assert torch.allclose(spec.denormalize_packed(spec.normalize_packed(packed)), packed, atol=1e-3)


def test_black_maps_to_zero_white_to_one():
    spec = SensorSpec.uniform(512, 16383)
    packed = torch.tensor([512.0, 16383.0]).view(1, 2, 1).expand(4, 2, 1)
    norm = spec.normalize_packed(packed)
    assert torch.allclose(norm[:, 0], torch.zeros(4, 1))
    assert torch.allclose(norm[:, 1], torch.ones(4, 1))


def test_dn_electrons_round_trip():
    spec = SensorSpec((100, 101, 102, 103), 1023, system_gain=2.5)
    packed = torch.rand(2, 4, 3, 3) * 900 + 103
    e = spec.dn_to_electrons(packed)
    assert torch.allclose(e[:, 0], (packed[:, 0] - 100) / 2.5)
    assert torch.allclose(spec.electrons_to_dn(e), packed, atol=1e-4)
    assert torch.allclose(spec.dn_to_electrons(packed, system_gain=5.0), e / 2, atol=1e-5)


def test_invalid_specs():
    with pytest.raises(ValueError, match="exceed"):
        SensorSpec.uniform(1000, 1000)
    with pytest.raises(ValueError, match="4 values"):
        SensorSpec((0, 0, 0), 10)
    with pytest.raises(ValueError, match="> 0"):
        SensorSpec.uniform(0, 10, system_gain=0)
    with pytest.raises(ValueError, match="unknown"):
        SensorSpec.uniform(0, 10).dn_to_electrons(torch.zeros(4, 1, 1))
