import pytest
import torch

from expodiff.kinds import parse_enum
from expodiff.raw import (
    XTRANS_CANONICAL,
    CFAPattern,
    ColourPlane,
    pack,
    pack_bayer,
    packed_channels,
    unpack,
    unpack_bayer,
)


@pytest.mark.parametrize("cfa", list(CFAPattern))
def test_pack_unpack_round_trip(cfa):
    g = torch.Generator().manual_seed(0)
    mosaic = torch.randint(0, 2**14, (2, 12, 18), generator=g, dtype=torch.int32)
    packed = pack(mosaic, cfa)
    step = 3 if cfa is CFAPattern.XTRANS else 2
    assert packed.shape == (2, packed_channels(cfa), 12 // step, 18 // step)
    assert torch.equal(unpack(packed, cfa), mosaic)


@pytest.mark.parametrize("cfa", [c for c in CFAPattern if c.is_bayer])
def test_bayer_canonical_order(cfa):
    # Paint each photosite with its colour plane index: packing must give channel c == c.
    pmap = torch.tensor(cfa.plane_map())
    mosaic = pmap.repeat(3, 4)
    packed = pack_bayer(mosaic, cfa)
    for c in range(4):
        assert torch.all(packed[c] == c), cfa


def test_bayer_green_convention():
    assert CFAPattern.RGGB.plane_map() == [[ColourPlane.R, ColourPlane.GR], [ColourPlane.GB, 2]]
    assert CFAPattern.GRBG.plane_map() == [[1, 0], [2, 3]]  # LibRaw's Kodak DC50 raw_pattern
    assert CFAPattern.BGGR.plane_map() == [[2, 3], [1, 0]]
    assert CFAPattern.GBRG.plane_map() == [[3, 2], [0, 1]]
    for cfa in CFAPattern:
        if cfa.is_bayer:
            assert CFAPattern.from_plane_map(cfa.plane_map()) is cfa


def test_xtrans_channel_colours():
    mosaic = torch.tensor(XTRANS_CANONICAL).repeat(2, 3)
    packed = pack(mosaic, CFAPattern.XTRANS)
    expected = [0, 0, 1, 1, 1, 1, 1, 2, 2]
    for c, colour in enumerate(expected):
        assert torch.all(packed[c] == colour)


def test_bad_sizes_and_patterns():
    with pytest.raises(ValueError, match="multiple of the CFA period"):
        pack(torch.zeros(5, 6), CFAPattern.RGGB)
    with pytest.raises(ValueError, match="multiple of the CFA period 6"):
        pack(torch.zeros(6, 8), CFAPattern.XTRANS)
    with pytest.raises(ValueError, match="shape"):
        unpack_bayer(torch.zeros(3, 2, 2), CFAPattern.RGGB)
    with pytest.raises(ValueError, match="valid: RGGB"):
        parse_enum(CFAPattern, "RGB")
    assert parse_enum(CFAPattern, "x-trans") is CFAPattern.XTRANS
