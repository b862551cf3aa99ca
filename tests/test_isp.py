"""The ISP: colour matrices, white balance, demosaicing, transfer curve, orientation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from expodiff.io.isp import (
    DemosaicMethod,
    apply_white_balance,
    cam_xyz_from_colour_matrix,
    colour_matrix_from_cam_xyz,
    default_demosaic,
    demosaic,
    develop,
    orient,
    srgb_encode,
)
from expodiff.kinds import parse_enum
from expodiff.raw import XTRANS_CANONICAL, CFAPattern, cfa_period, pack, packed_channels

BAYER = [c for c in CFAPattern if c.is_bayer]
D30_CAM_XYZ = np.array([[9900, -2771, -1324], [-7072, 14229, 3140], [-2790, 3344, 8861]]) / 1e4


def _colour_map(cfa: CFAPattern, h: int, w: int) -> np.ndarray:
    if cfa is CFAPattern.XTRANS:
        tile = np.array(XTRANS_CANONICAL)
    else:
        tile = np.array([[[0, 1, 2, 1][p] for p in row] for row in cfa.plane_map()])
    p = cfa_period(cfa)
    return np.tile(tile, (h // p, w // p))


def _mosaic_of(rgb: np.ndarray, cfa: CFAPattern) -> torch.Tensor:
    """Sample an (H, W, 3) image through a CFA."""
    colours = _colour_map(cfa, *rgb.shape[:2])
    return torch.from_numpy(np.take_along_axis(rgb, colours[..., None], axis=2)[..., 0]).float()


# ------------------------------------------------------------------------- colour
def test_colour_matrix_rows_sum_to_one_and_round_trip():
    matrix = colour_matrix_from_cam_xyz(D30_CAM_XYZ)
    np.testing.assert_allclose(matrix.sum(axis=1), 1.0, atol=1e-12)
    again = colour_matrix_from_cam_xyz(cam_xyz_from_colour_matrix(matrix))
    np.testing.assert_allclose(again, matrix, atol=1e-12)
    with pytest.raises(ValueError, match="cam_xyz maps white to a zero camera response"):
        colour_matrix_from_cam_xyz(np.zeros((3, 3)))


def test_identity_colour_matrix_round_trips():
    np.testing.assert_allclose(
        colour_matrix_from_cam_xyz(cam_xyz_from_colour_matrix(np.eye(3))), np.eye(3), atol=1e-12
    )


def test_srgb_curve_known_values():
    x = torch.tensor([0.0, 0.0031308, 0.18, 0.5, 1.0, 2.0, -1.0])
    y = srgb_encode(x)
    expected = [0.0, 0.0404500, 0.4613561, 0.7353570, 1.0, 1.0, 0.0]
    assert torch.allclose(y, torch.tensor(expected), atol=1e-6)


# -------------------------------------------------------------------- white balance
def test_white_balance_scales_by_plane_and_keeps_highlights_white():
    packed = torch.full((4, 2, 2), 0.25)
    packed[:, 0, 0] = 1.0  # a clipped highlight
    out = apply_white_balance(packed, CFAPattern.RGGB, (2.0, 1.0, 1.5, 1.0))
    assert torch.allclose(out[:, 1, 1], torch.tensor([0.5, 0.25, 0.375, 0.25]))
    assert torch.all(out[:, 0, 0] == 1.0)
    # Gains below 1 are rescaled so the smallest is 1: nothing gets darker.
    out = apply_white_balance(packed, CFAPattern.RGGB, (1.0, 0.5, 0.75, 0.5))
    assert torch.allclose(out[:, 1, 1], torch.tensor([0.5, 0.25, 0.375, 0.25]))
    with pytest.raises(ValueError, match="positive"):
        apply_white_balance(packed, CFAPattern.RGGB, (1.0, 0.0, 1.0, 1.0))


def test_white_balance_xtrans_channels():
    packed = torch.ones(9, 1, 1) * 0.1
    out = apply_white_balance(packed, CFAPattern.XTRANS, (3.0, 1.0, 2.0, 1.0))
    assert torch.allclose(out[:, 0, 0], torch.tensor([0.3, 0.3] + [0.1] * 5 + [0.2, 0.2]))


# ------------------------------------------------------------------------- demosaic
CASES = [(c, DemosaicMethod.BILINEAR) for c in CFAPattern] + [
    (c, DemosaicMethod.MALVAR) for c in BAYER
]


@pytest.mark.parametrize("cfa, method", CASES, ids=lambda v: getattr(v, "value", v))
def test_demosaic_flat_colour_field(cfa, method):
    rgb = np.broadcast_to(np.array([0.6, 0.3, 0.1]), (24, 36, 3)).copy()
    out = demosaic(_mosaic_of(rgb, cfa), cfa, method)
    assert out.shape == (3, 24, 36)
    expected = torch.tensor([0.6, 0.3, 0.1]).view(3, 1, 1).expand(3, 24, 36)
    assert torch.allclose(out, expected.float(), atol=1e-5)


@pytest.mark.parametrize("cfa, method", CASES, ids=lambda v: getattr(v, "value", v))
def test_demosaic_reproduces_a_linear_ramp_inside(cfa, method):
    # On Bayer both filters are exact on locally linear signals (away from the border); on
    # X-Trans the 3x3 neighbours of a colour are not centred, so bilinear is off by less
    # than one photosite's step of the ramp.
    tolerance = 0.01 if cfa is CFAPattern.XTRANS else 1e-5
    yy, xx = np.mgrid[0:36, 0:48].astype(np.float64)
    grey = 0.1 + 0.01 * xx + 0.005 * yy
    rgb = np.stack([grey, grey, grey], axis=-1)
    out = demosaic(_mosaic_of(rgb, cfa), cfa, method).numpy()
    inner = (slice(None), slice(6, -6), slice(6, -6))
    np.testing.assert_allclose(out[inner], np.moveaxis(rgb, -1, 0)[inner], atol=tolerance)


@pytest.mark.parametrize("cfa", list(CFAPattern), ids=lambda c: c.value)
def test_bilinear_keeps_measured_samples(cfa):
    rng = np.random.default_rng(0)
    rgb = rng.random((12, 12, 3))
    mosaic = _mosaic_of(rgb, cfa)
    out = demosaic(mosaic, cfa, DemosaicMethod.BILINEAR).numpy()
    colours = _colour_map(cfa, 12, 12)
    for c in range(3):
        np.testing.assert_allclose(out[c][colours == c], mosaic.numpy()[colours == c])


def test_demosaic_errors_and_defaults():
    with pytest.raises(ValueError, match="Bayer"):
        demosaic(torch.zeros(6, 6), CFAPattern.XTRANS, DemosaicMethod.MALVAR)
    with pytest.raises(ValueError, match="shape"):
        demosaic(torch.zeros(1, 6, 6), CFAPattern.RGGB)
    assert default_demosaic(CFAPattern.GRBG) is DemosaicMethod.MALVAR
    assert default_demosaic(CFAPattern.XTRANS) is DemosaicMethod.BILINEAR
    assert parse_enum(DemosaicMethod, "Malvar") is DemosaicMethod.MALVAR
    with pytest.raises(ValueError, match="valid: bilinear, malvar"):
        parse_enum(DemosaicMethod, "ahd")


# -------------------------------------------------------------------------- develop
@pytest.mark.parametrize("cfa", list(CFAPattern), ids=lambda c: c.value)
def test_develop_grey_card(cfa):
    h, w = 12, 24
    packed = torch.full(
        (
            packed_channels(cfa),
            h // (3 if cfa is CFAPattern.XTRANS else 2),
            w // (3 if cfa is CFAPattern.XTRANS else 2),
        ),
        0.09,
    )
    out = develop(packed, cfa, (1, 1, 1, 1), np.eye(3), exposure_gain=2.0)
    assert out.shape == (h, w, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out, 0.4613561, atol=1e-5)  # sRGB of 0.18


def test_develop_white_balance_and_matrix_make_a_grey_card_grey():
    # A camera that sees neutral grey as (0.5, 1, 0.8) x 0.2: its WB gains are (2, 1, 1.25).
    camera = np.array([0.5, 1.0, 0.8]) * 0.2
    rgb = np.broadcast_to(camera, (8, 8, 3)).copy()
    packed = pack(_mosaic_of(rgb, CFAPattern.RGGB), CFAPattern.RGGB)
    matrix = colour_matrix_from_cam_xyz(D30_CAM_XYZ)
    out = develop(packed, CFAPattern.RGGB, (2.0, 1.0, 1.25, 1.0), matrix)
    np.testing.assert_allclose(out, srgb_encode(torch.tensor(0.2)).item(), atol=1e-5)


def test_develop_clips_and_validates():
    packed = torch.full((4, 2, 2), 0.6)
    out = develop(packed, CFAPattern.RGGB, (1, 1, 1, 1), np.eye(3), exposure_gain=10.0)
    assert np.all(out == 1.0)
    with pytest.raises(ValueError, match="exposure_gain"):
        develop(packed, CFAPattern.RGGB, (1, 1, 1, 1), np.eye(3), exposure_gain=0.0)
    with pytest.raises(ValueError, match="colour_matrix"):
        develop(packed, CFAPattern.RGGB, (1, 1, 1, 1), np.eye(4))
    with pytest.raises(ValueError, match=r"\(C, h, w\)"):
        develop(packed[None], CFAPattern.RGGB, (1, 1, 1, 1), np.eye(3))


@pytest.mark.data
def test_develop_real_file(raw_dir):
    from expodiff.io.rawio import read_raw

    frame = read_raw(
        raw_dir / "halide_bayer_small_N900crop.png", cfa="GRBG", black_level=25, white_level=1023
    )
    out = develop(
        frame.packed_norm(),
        frame.cfa,
        frame.white_balance,
        frame.colour_matrix,
        demosaic=DemosaicMethod.MALVAR,
    )
    assert out.shape == (344, 256, 3)
    assert 0.0 <= out.min() and out.max() <= 1.0
    assert 0.2 < out.mean() < 0.6  # a normally exposed photo, not black or blown out


# ---------------------------------------------------------------------- orientation
@pytest.mark.parametrize("orientation", range(1, 9))
def test_orient_matches_pillow_exif_transpose(orientation):
    from PIL import Image, ImageOps

    image = np.arange(3 * 5 * 3, dtype=np.uint8).reshape(3, 5, 3) * 2
    pil = Image.fromarray(image)
    exif = pil.getexif()
    exif[0x0112] = orientation
    pil.info["exif"] = exif.tobytes()
    expected = np.asarray(ImageOps.exif_transpose(pil))
    np.testing.assert_array_equal(orient(image, orientation), expected)
    with pytest.raises(ValueError, match=r"orientation must be 1\.\.8, got 9"):
        orient(image, 9)
