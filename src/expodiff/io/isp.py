"""A small, documented image signal processor: packed raw_norm -> display sRGB.

Pipeline of :func:`develop` (each step is a public function of arrays; no files):

1. **exposure**: ``raw_norm * exposure_gain``, clipped to ``[0, 1]`` (the sensor clips at
   its white level, so a brightened raw clips too);
2. **white balance**: each colour plane times its gain, gains scaled so the smallest is 1,
   clipped to ``[0, 1]`` again, so that clipped highlights stay neutral instead of turning
   pink (dcraw's default highlight mode);
3. **demosaic** (:class:`DemosaicMethod`): bilinear for Bayer and X-Trans, or the
   gradient-corrected linear filter of Malvar, He and Cutler (ICASSP 2004) for Bayer;
4. **colour**: a 3x3 camera-RGB -> linear-sRGB matrix whose rows sum to 1 (white stays
   white), clipped to ``[0, 1]``;
5. **transfer curve**: the sRGB OETF (IEC 61966-2-1).

Colour matrices follow dcraw/LibRaw: a camera's ``cam_xyz`` (XYZ -> camera, D65, as in
Adobe's DNG ``ColorMatrix``) becomes ``rgb_cam`` (camera -> linear sRGB) by
:func:`colour_matrix_from_cam_xyz`; :func:`cam_xyz_from_colour_matrix` is its inverse, used
when a DNG is written.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..kinds import DemosaicMethod
from ..raw import XTRANS_CANONICAL, CFAPattern, cfa_period, channel_planes, unpack

__all__ = [
    "DemosaicMethod",
    "default_demosaic",
    "MALVAR_MIN_SIDE",
    "XYZ_FROM_LINEAR_SRGB",
    "colour_matrix_from_cam_xyz",
    "cam_xyz_from_colour_matrix",
    "apply_white_balance",
    "demosaic",
    "apply_colour_matrix",
    "srgb_encode",
    "orient",
    "develop",
]

# Linear sRGB (D65) -> CIE XYZ, as in dcraw's ``xyz_rgb`` (IEC 61966-2-1 primaries).
XYZ_FROM_LINEAR_SRGB = np.array(
    [
        [0.412453, 0.357580, 0.180423],
        [0.212671, 0.715160, 0.072169],
        [0.019334, 0.119193, 0.950227],
    ],
    dtype=np.float64,
)


# The Malvar-He-Cutler filters are 5 x 5: a Bayer mosaic needs at least 4 x 4 photosites.
MALVAR_MIN_SIDE = 4


def default_demosaic(cfa: CFAPattern, mosaic_size: tuple[int, int] | None = None) -> DemosaicMethod:
    """The best method available for a layout: Malvar for Bayer, bilinear for X-Trans and
    for Bayer mosaics (``mosaic_size``: height, width in photosites) under
    ``MALVAR_MIN_SIDE`` on a side."""
    if mosaic_size is not None and min(mosaic_size) < MALVAR_MIN_SIDE:
        return DemosaicMethod.BILINEAR
    return DemosaicMethod.MALVAR if cfa.is_bayer else DemosaicMethod.BILINEAR


# ------------------------------------------------------------------------------- colour
def colour_matrix_from_cam_xyz(cam_xyz: np.ndarray) -> np.ndarray:
    """Camera -> linear sRGB matrix from an XYZ -> camera matrix (dcraw's ``cam_xyz_coeff``).

    ``cam_rgb = cam_xyz @ XYZ_FROM_LINEAR_SRGB``, each row scaled to sum to 1 (so that a
    white-balanced neutral stays neutral), then inverted.

    Args:
        cam_xyz: ``(3, 3)``, rows R, G, B of the camera, columns X, Y, Z.

    Returns:
        ``(3, 3)`` float64 camera RGB -> linear sRGB, rows summing to 1.

    Raises:
        ValueError: when the matrix is singular or a row of ``cam_rgb`` sums to 0.
    """
    cam_xyz = np.asarray(cam_xyz, dtype=np.float64)
    if cam_xyz.shape != (3, 3):
        raise ValueError(f"cam_xyz must be 3x3, got {cam_xyz.shape}")
    cam_rgb = cam_xyz @ XYZ_FROM_LINEAR_SRGB
    sums = cam_rgb.sum(axis=1, keepdims=True)
    if not np.all(np.isfinite(sums)) or np.any(np.abs(sums) < 1e-12):
        raise ValueError("cam_xyz maps white to a zero camera response")
    cam_rgb = cam_rgb / sums
    if abs(np.linalg.det(cam_rgb)) < 1e-12:
        raise ValueError("cam_xyz is singular")
    return np.linalg.inv(cam_rgb)


def cam_xyz_from_colour_matrix(colour_matrix: np.ndarray) -> np.ndarray:
    """Inverse of :func:`colour_matrix_from_cam_xyz` (up to the row scale it normalises away).

    Args:
        colour_matrix: ``(3, 3)`` camera RGB -> linear sRGB, rows summing to 1.

    Returns:
        ``(3, 3)`` XYZ -> camera matrix, suitable for a DNG ``ColorMatrix`` (D65).
    """
    colour_matrix = np.asarray(colour_matrix, dtype=np.float64)
    if colour_matrix.shape != (3, 3):
        raise ValueError(f"colour_matrix must be 3x3, got {colour_matrix.shape}")
    return np.linalg.inv(colour_matrix) @ np.linalg.inv(XYZ_FROM_LINEAR_SRGB)


def _check_colour_matrix(colour_matrix) -> torch.Tensor:
    m = torch.as_tensor(np.asarray(colour_matrix, dtype=np.float32))
    if m.shape != (3, 3) or not torch.isfinite(m).all():
        raise ValueError(f"colour_matrix must be a finite 3x3 matrix, got {tuple(m.shape)}")
    return m


# ------------------------------------------------------------------------ white balance
def apply_white_balance(
    packed_norm: torch.Tensor, cfa: CFAPattern, white_balance: Sequence[float]
) -> torch.Tensor:
    """Scale each packed channel by the gain of its colour plane and clip to ``[0, 1]``.

    Args:
        packed_norm: ``(..., C, h, w)`` raw_norm, C = 4 (Bayer) or 9 (X-Trans).
        cfa: the layout the channels were packed from.
        white_balance: gains per colour plane (R, Gr, B, Gb), all > 0.

    Returns:
        Same shape, float32; gains are divided by their minimum first, so no channel is
        darkened and saturated pixels (1 in every channel) stay white.
    """
    gains = torch.tensor([float(g) for g in white_balance], dtype=torch.float32)
    if gains.numel() != 4 or not torch.isfinite(gains).all() or not (gains > 0).all():
        raise ValueError(f"white_balance needs 4 positive gains (R, Gr, B, Gb), got {gains}")
    gains = gains / gains.min()
    per_channel = gains[channel_planes(cfa)].to(packed_norm.device).view(-1, 1, 1)
    return (packed_norm.float() * per_channel).clamp(0.0, 1.0)


# ----------------------------------------------------------------------------- demosaic
def _colour_index(cfa: CFAPattern, height: int, width: int) -> torch.Tensor:
    """``(H, W)`` colour of each photosite: 0 = R, 1 = G, 2 = B."""
    if cfa is CFAPattern.XTRANS:
        tile = torch.tensor(XTRANS_CANONICAL)
    else:
        plane_colour = [0, 1, 2, 1]  # R, Gr, B, Gb
        tile = torch.tensor([[plane_colour[p] for p in row] for row in cfa.plane_map()])
    period = cfa_period(cfa)
    return tile.repeat(height // period, width // period)


_BILINEAR_KERNEL = torch.tensor([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]])


def _demosaic_bilinear(mosaic: torch.Tensor, colours: torch.Tensor) -> torch.Tensor:
    """Normalised-convolution bilinear interpolation, valid for any CFA.

    Each missing colour is the weighted mean of that colour's photosites in the 3x3
    neighbourhood (weights 4-2-1 by distance): for Bayer this is classic bilinear
    demosaicing. Where a 3x3 window holds no photosite of a colour (only at X-Trans image
    borders) a 5x5 window is used. Measured values are kept as they are.
    """
    x = mosaic[None, None]
    masks = torch.stack([(colours == c) for c in range(3)]).float()[:, None]  # (3,1,H,W)
    k3 = _BILINEAR_KERNEL.view(1, 1, 3, 3)
    num = F.conv2d(x * masks, k3, padding=1)
    den = F.conv2d(masks, k3, padding=1)
    if bool((den == 0).any()):
        k5 = torch.ones(1, 1, 5, 5)
        num5 = F.conv2d(x * masks, k5, padding=2)
        den5 = F.conv2d(masks, k5, padding=2)
        use5 = den == 0
        num = torch.where(use5, num5, num)
        den = torch.where(use5, den5, den)
    interpolated = (num / den.clamp_min(1e-12))[:, 0]  # (3, H, W)
    return torch.where(masks[:, 0].bool(), mosaic.expand(3, -1, -1), interpolated)


# Malvar, He, Cutler: "High-quality linear interpolation for demosaicing of Bayer-patterned
# color images", ICASSP 2004, Fig. 2 (coefficients x 8).
_MALVAR_G_AT_RB = [
    [0, 0, -1, 0, 0],
    [0, 0, 2, 0, 0],
    [-1, 2, 4, 2, -1],
    [0, 0, 2, 0, 0],
    [0, 0, -1, 0, 0],
]
_MALVAR_ROW_NEIGHBOUR = [  # R at a green site whose row holds R (and B likewise)
    [0, 0, 0.5, 0, 0],
    [0, -1, 0, -1, 0],
    [-1, 4, 5, 4, -1],
    [0, -1, 0, -1, 0],
    [0, 0, 0.5, 0, 0],
]
_MALVAR_OPPOSITE = [  # R at a B site (and B at an R site)
    [0, 0, -1.5, 0, 0],
    [0, 2, 0, 2, 0],
    [-1.5, 0, 6, 0, -1.5],
    [0, 2, 0, 2, 0],
    [0, 0, -1.5, 0, 0],
]


def _demosaic_malvar(mosaic: torch.Tensor, cfa: CFAPattern) -> torch.Tensor:
    h, w = mosaic.shape
    kernels = (
        torch.tensor(
            [
                _MALVAR_G_AT_RB,
                _MALVAR_ROW_NEIGHBOUR,
                [list(r) for r in zip(*_MALVAR_ROW_NEIGHBOUR, strict=True)],  # column neighbour
                _MALVAR_OPPOSITE,
            ],
            dtype=torch.float32,
        )[:, None]
        / 8.0
    )
    padded = F.pad(mosaic[None, None], (2, 2, 2, 2), mode="reflect")
    g_rb, row_nb, col_nb, opposite = F.conv2d(padded, kernels)[0]

    pmap = cfa.plane_map()
    plane = torch.tensor(pmap).repeat(h // 2, w // 2)
    is_r, is_gr, is_b, is_gb = (plane == p for p in range(4))
    # Rows holding R are the rows of Gr; so R at Gr is a row neighbour, R at Gb a column one.
    red = torch.where(is_gr, row_nb, torch.where(is_gb, col_nb, opposite))
    red = torch.where(is_r, mosaic, red)
    green = torch.where(is_gr | is_gb, mosaic, g_rb)
    blue = torch.where(is_gb, row_nb, torch.where(is_gr, col_nb, opposite))
    blue = torch.where(is_b, mosaic, blue)
    return torch.stack([red, green, blue])


def demosaic(
    mosaic: torch.Tensor, cfa: CFAPattern, method: DemosaicMethod = DemosaicMethod.BILINEAR
) -> torch.Tensor:
    """Interpolate a mosaic to full RGB.

    Args:
        mosaic: ``(H, W)`` float values (any linear scale), H and W multiples of the period.
        cfa: layout of ``mosaic`` (X-Trans: canonical phase, see :mod:`expodiff.raw`).
        method: :class:`DemosaicMethod`; ``MALVAR`` needs a Bayer layout.

    Returns:
        ``(3, H, W)`` float32 camera RGB. Malvar's filter can overshoot slightly outside the
        input range at edges; callers clip.
    """
    if mosaic.dim() != 2:
        raise ValueError(f"mosaic must have shape (H, W), got {tuple(mosaic.shape)}")
    mosaic = mosaic.float()
    method = DemosaicMethod(method)
    if method is DemosaicMethod.MALVAR:
        if not cfa.is_bayer:
            raise ValueError("the Malvar demosaic needs a Bayer pattern; use bilinear for X-Trans")
        if min(mosaic.shape) < MALVAR_MIN_SIDE:
            raise ValueError(
                f"the Malvar demosaic needs a mosaic of at least {MALVAR_MIN_SIDE} x "
                f"{MALVAR_MIN_SIDE}, got {mosaic.shape[1]} x {mosaic.shape[0]}"
            )
        return _demosaic_malvar(mosaic, cfa)
    colours = _colour_index(cfa, *mosaic.shape).to(mosaic.device)
    return _demosaic_bilinear(mosaic, colours)


_demosaic = demosaic  # `develop` has a parameter of this name (the contract's spelling)


# ------------------------------------------------------------------------ colour, curve
def apply_colour_matrix(camera_rgb: torch.Tensor, colour_matrix) -> torch.Tensor:
    """``(3, H, W)`` camera RGB -> ``(3, H, W)`` linear sRGB, clipped to ``[0, 1]``."""
    m = _check_colour_matrix(colour_matrix).to(camera_rgb.device)
    return torch.einsum("ij,jhw->ihw", m, camera_rgb.float()).clamp(0.0, 1.0)


def srgb_encode(linear: torch.Tensor) -> torch.Tensor:
    """The sRGB transfer curve (IEC 61966-2-1) on values in ``[0, 1]``."""
    linear = linear.clamp(0.0, 1.0)
    low = linear * 12.92
    high = 1.055 * linear.clamp_min(0.0031308) ** (1.0 / 2.4) - 0.055
    # In float32, 1.055 * 1 - 0.055 is 0.99999994: pin white to exactly 1.
    return torch.where(linear <= 0.0031308, low, torch.where(linear >= 1.0, 1.0, high))


def orient(image: np.ndarray, orientation: int) -> np.ndarray:
    """Apply a TIFF/EXIF ``Orientation`` (1-8) to an ``(H, W, ...)`` image for display."""
    ops = {
        1: lambda a: a,
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.swapaxes(0, 1),
        6: lambda a: np.rot90(a, k=-1),
        7: lambda a: a[::-1, ::-1].swapaxes(0, 1),
        8: lambda a: np.rot90(a, k=1),
    }
    if orientation not in ops:
        raise ValueError(f"orientation must be 1..8, got {orientation}")
    return np.ascontiguousarray(ops[orientation](image))


# -------------------------------------------------------------------------------- develop
def develop(
    packed_norm: torch.Tensor,
    cfa: CFAPattern,
    white_balance: Sequence[float],
    colour_matrix,
    *,
    exposure_gain: float = 1.0,
    demosaic: DemosaicMethod = DemosaicMethod.BILINEAR,
) -> np.ndarray:
    """Render packed raw_norm to display sRGB (see the module docstring for the steps).

    Args:
        packed_norm: ``(C, h, w)`` raw_norm (0 = black, 1 = white), C = 4 Bayer / 9 X-Trans.
        cfa: layout the channels were packed from.
        white_balance: gains per colour plane (R, Gr, B, Gb).
        colour_matrix: ``(3, 3)`` camera RGB -> linear sRGB, rows summing to 1.
        exposure_gain: linear brightness multiplier applied before clipping (> 0).
        demosaic: the :class:`DemosaicMethod`.

    Returns:
        ``(H, W, 3)`` float32 sRGB in ``[0, 1]``, H and W the mosaic size.
    """
    if packed_norm.dim() != 3:
        raise ValueError(f"packed_norm must have shape (C, h, w), got {tuple(packed_norm.shape)}")
    if not (exposure_gain > 0 and np.isfinite(exposure_gain)):
        raise ValueError(f"exposure_gain must be a positive number, got {exposure_gain}")
    matrix = _check_colour_matrix(colour_matrix)
    with torch.no_grad():
        exposed = (packed_norm.float() * float(exposure_gain)).clamp(0.0, 1.0)
        balanced = apply_white_balance(exposed, cfa, white_balance)
        mosaic = unpack(balanced, cfa)
        camera_rgb = _demosaic(mosaic, cfa, demosaic)
        srgb = srgb_encode(apply_colour_matrix(camera_rgb, matrix))
    return srgb.permute(1, 2, 0).contiguous().cpu().numpy().astype(np.float32, copy=False)
