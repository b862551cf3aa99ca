"""Invert a simple camera pipeline: clean sRGB image -> linear packed raw (raw_norm).

Brooks et al., "Unprocessing Images for Learned Raw Denoising" (CVPR 2019) synthesise raw
training data by running a camera ISP backwards. This module runs backwards the ISP of
:mod:`expodiff.io.isp` (white balance -> demosaic -> colour matrix -> sRGB curve), step by
step, with the *real* white balance and colour matrix of a SID scene:

=====================  ===================================================================
step                   what
=====================  ===================================================================
1 transfer curve       exact inverse of the sRGB curve (IEC 61966-2-1), not a 2.2 power
2 colour matrix        linear sRGB -> camera RGB with ``inv(colour_matrix)``, where
                       ``colour_matrix`` maps camera RGB to linear sRGB (rows sum to 1,
                       so white stays white)
3 white balance        divide by the as-shot gains (smallest = 1) and multiply by the
                       brightness scale, *highlight preserving* as in Brooks et al.: near
                       white (mean > 0.9) the gains fade to 1 so clipped highlights stay
                       clipped instead of turning into a colour cast
4 clip                 to [0, 1], the range of raw_norm
5 mosaic + pack        sample the sensor's CFA (each photosite keeps one colour), then pack
                       to the canonical planes R, Gr, B, Gb (half resolution)
=====================  ===================================================================

There is no inverse tone curve (Brooks et al. invert a smoothstep their ISP applied; ours
applies none). Odd image sizes lose their last row/column (the mosaic needs whole 2x2
periods).

Brightness rule (documented in ``docs/data.md``): the unprocessed image is what a correctly
exposed reference frame looks like when developed by the plain ISP, times a brightness
scale drawn per sample from N(0.8, 0.1) clipped to [0.5, 1.1] (Brooks et al. draw the same
"rgb gain" 1 / N(0.8, 0.1) and divide by it). SID long exposures are of this kind: their
ground-truth sRGB images are exactly such plain developments.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..raw import CFAPattern

__all__ = [
    "srgb_to_linear",
    "linearise",
    "invert_colour_matrix",
    "invert_white_balance",
    "mosaic_packed",
    "unprocess",
    "unprocess_batch",
    "BRIGHTNESS_MEAN",
    "BRIGHTNESS_STD",
    "BRIGHTNESS_RANGE",
    "HIGHLIGHT_THRESHOLD",
]

# Brooks et al. 2019, unprocess.random_gains: rgb_gain = 1 / N(0.8, 0.1).
BRIGHTNESS_MEAN = 0.8
BRIGHTNESS_STD = 0.1
# Our own guard against the normal's tails (0.5 and 1.1 are 3 sigma from the mean).
BRIGHTNESS_RANGE = (0.5, 1.1)
# Brooks et al. 2019, unprocess.safe_invert_gains: gains fade out above this grey level.
HIGHLIGHT_THRESHOLD = 0.9

# Colour (0 R, 1 G, 2 B) of each canonical plane R, Gr, B, Gb.
_PLANE_COLOUR = (0, 1, 2, 1)


def srgb_to_linear(srgb: torch.Tensor) -> torch.Tensor:
    """Inverse sRGB transfer curve (IEC 61966-2-1) of values in [0, 1]; any shape."""
    srgb = srgb.clamp(0.0, 1.0)
    return torch.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)


def linearise(srgb: torch.Tensor) -> torch.Tensor:
    """:func:`srgb_to_linear` of float values in [0, 1], or of uint8 codes (0-255) through a
    256-entry table: ``srgb_to_linear(srgb.float() / 255)`` up to float32 rounding (the
    table's power runs in another kernel than a per-pixel one and may differ in the last
    bit on some CPUs), without a power per pixel."""
    if srgb.dtype == torch.uint8:
        codes = torch.arange(256, dtype=torch.float32, device=srgb.device) / 255.0
        return srgb_to_linear(codes)[srgb.long()]
    return srgb_to_linear(srgb.float())


def invert_colour_matrix(colour_matrix: torch.Tensor | Sequence[Sequence[float]]) -> torch.Tensor:
    """``(3, 3)`` linear sRGB -> camera RGB matrix from a camera RGB -> sRGB matrix."""
    ccm = torch.as_tensor(colour_matrix, dtype=torch.float64)
    if ccm.shape != (3, 3):
        raise ValueError(f"colour matrix must be 3x3, got {tuple(ccm.shape)}")
    if abs(float(torch.linalg.det(ccm))) < 1e-8:
        raise ValueError(f"colour matrix is singular: {ccm.tolist()}")
    return torch.linalg.inv(ccm).float()


def invert_white_balance(
    camera_rgb: torch.Tensor,
    white_balance: Sequence[float] | torch.Tensor,
    brightness: float | torch.Tensor = 1.0,
    highlight_threshold: float = HIGHLIGHT_THRESHOLD,
) -> torch.Tensor:
    """Undo white balance (and apply a brightness scale), preserving highlights.

    Args:
        camera_rgb: ``(..., 3, H, W)`` linear camera RGB (white-balanced, as an ISP sees it).
        white_balance: as-shot gains (R, Gr, B, Gb) or (R, G, B), one set per leading index
            (``(..., 4)`` or ``(..., 3)``); divided by their minimum first, exactly as
            :func:`expodiff.io.isp.apply_white_balance` does.
        brightness: linear scale of the result (the unprocessing brightness rule); a float
            or one per leading index.
        highlight_threshold: grey level above which the inverse gains fade to 1.

    Returns:
        ``(..., 3, H, W)``: ``camera_rgb * g`` with ``g_c = brightness / wb_c`` away from
        highlights, per Brooks et al. ``safe_invert_gains``: with
        ``m = (max(grey - t, 0) / (1 - t))^2``, the gain is ``max(m + (1 - m) g, g)``.
    """
    device = camera_rgb.device
    wb = torch.as_tensor(white_balance, dtype=torch.float64, device=device)
    if wb.dim() == 0 or wb.shape[-1] not in (3, 4):
        raise ValueError(f"white balance needs 3 or 4 gains, got {wb.tolist()}")
    if wb.shape[-1] == 4:
        wb = torch.stack([wb[..., 0], 0.5 * (wb[..., 1] + wb[..., 3]), wb[..., 2]], dim=-1)
    if bool((wb <= 0).any()):
        raise ValueError(f"white balance gains must be positive, got {wb.tolist()}")
    scale = torch.as_tensor(brightness, dtype=torch.float64, device=device).unsqueeze(-1)
    inverse = (scale * wb.min(dim=-1, keepdim=True).values / wb).to(camera_rgb.dtype)
    inverse = inverse[..., None, None]  # (..., 3, 1, 1)
    grey = camera_rgb.mean(dim=-3, keepdim=True)
    mask = ((grey - highlight_threshold).clamp_min(0.0) / (1.0 - highlight_threshold)) ** 2
    safe = torch.maximum(mask + (1.0 - mask) * inverse, inverse)
    return camera_rgb * safe


def mosaic_packed(rgb: torch.Tensor, cfa: CFAPattern) -> torch.Tensor:
    """Sample a full-colour image in a Bayer CFA and pack it to planes R, Gr, B, Gb.

    Args:
        rgb: ``(..., 3, H, W)``, H and W even.
        cfa: the sensor's Bayer layout; it decides *where* in each 2x2 period every plane
            samples the image (RGGB takes R at (0, 0), GRBG at (0, 1), ...).

    Returns:
        ``(..., 4, H/2, W/2)``.
    """
    if not cfa.is_bayer:
        raise ValueError(f"unprocessing supports Bayer sensors only, got {cfa.value}")
    if rgb.dim() < 3 or rgb.shape[-3] != 3:
        raise ValueError(f"expected a (3, H, W) image or a batch of them, got {tuple(rgb.shape)}")
    planes: list[torch.Tensor] = [rgb] * 4
    for dy, row in enumerate(cfa.plane_map()):
        for dx, plane in enumerate(row):
            planes[plane] = rgb[..., _PLANE_COLOUR[plane], dy::2, dx::2]
    return torch.stack(planes, dim=-3)


def unprocess(
    srgb: torch.Tensor,
    *,
    colour_matrix: torch.Tensor | Sequence[Sequence[float]],
    white_balance: Sequence[float],
    brightness: float = 1.0,
    cfa: CFAPattern = CFAPattern.RGGB,
) -> torch.Tensor:
    """Clean sRGB image -> packed raw_norm (steps 1-5 of the module docstring).

    Args:
        srgb: ``(3, H, W)`` float in [0, 1] or uint8 (odd H or W: the last row/column is
            dropped).
        colour_matrix: ``(3, 3)`` camera RGB -> linear sRGB of the camera to imitate.
        white_balance: its as-shot gains (R, Gr, B, Gb).
        brightness: linear brightness scale (see the module's brightness rule).
        cfa: the sensor's Bayer layout.

    Returns:
        ``(4, H // 2, W // 2)`` float32 raw_norm in [0, 1], planes R, Gr, B, Gb.
    """
    if srgb.dim() != 3 or srgb.shape[0] != 3:
        raise ValueError(f"expected a (3, H, W) sRGB image, got {tuple(srgb.shape)}")
    h, w = srgb.shape[-2:]
    h2, w2 = h - h % 2, w - w % 2
    if h2 == 0 or w2 == 0:
        raise ValueError(f"image {h}x{w} is too small to mosaic")
    linear = linearise(srgb[:, :h2, :w2])
    rgb_to_camera = invert_colour_matrix(colour_matrix)
    camera = torch.einsum("ij,jhw->ihw", rgb_to_camera, linear)
    camera = invert_white_balance(camera, white_balance, brightness)
    return mosaic_packed(camera.clamp(0.0, 1.0), cfa).contiguous()


def unprocess_batch(
    srgb: torch.Tensor,
    *,
    colour_matrix: torch.Tensor,
    white_balance: torch.Tensor,
    brightness: torch.Tensor,
    cfa: CFAPattern = CFAPattern.RGGB,
) -> torch.Tensor:
    """:func:`unprocess` of a batch in one pass on the batch's device (e.g. a GPU).

    Sample ``b`` gets exactly the steps :func:`unprocess` applies with ``colour_matrix[b]``,
    ``white_balance[b]`` and ``brightness[b]`` (equal up to float rounding): the training
    loop uses it for ``data.unprocess_on_device``.

    Args:
        srgb: ``(B, 3, H, W)`` float in [0, 1], or uint8 (0-255: linearised through a
            256-entry table, as ``srgb.float() / 255`` up to float rounding), H and W even.
        colour_matrix: ``(B, 3, 3)`` camera RGB -> linear sRGB.
        white_balance: ``(B, 4)`` as-shot gains (R, Gr, B, Gb).
        brightness: ``(B,)`` linear brightness scales.
        cfa: the Bayer layout of every sample.

    Returns:
        ``(B, 4, H / 2, W / 2)`` float32 raw_norm in [0, 1].
    """
    if srgb.dim() != 4 or srgb.shape[1] != 3:
        raise ValueError(f"expected a (B, 3, H, W) sRGB batch, got {tuple(srgb.shape)}")
    n, _, h, w = srgb.shape
    if h % 2 or w % 2 or h == 0 or w == 0:
        raise ValueError(f"batch images must have even, non-zero sizes, got {h}x{w}")
    shapes = {"colour_matrix": (n, 3, 3), "white_balance": (n, 4), "brightness": (n,)}
    for name, value in zip(shapes, (colour_matrix, white_balance, brightness), strict=True):
        if tuple(value.shape) != shapes[name]:
            raise ValueError(f"{name} must be {shapes[name]}, got {tuple(value.shape)}")
    ccm = colour_matrix.to(device=srgb.device, dtype=torch.float64)
    if bool((torch.linalg.det(ccm).abs() < 1e-8).any()):
        raise ValueError("a colour matrix of the batch is singular")
    rgb_to_camera = torch.linalg.inv(ccm).float()
    camera = torch.einsum("bij,bjhw->bihw", rgb_to_camera, linearise(srgb))
    camera = invert_white_balance(camera, white_balance, brightness)
    return mosaic_packed(camera.clamp(0.0, 1.0), cfa).contiguous()
