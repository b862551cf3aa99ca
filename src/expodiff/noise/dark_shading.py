"""Dark shading (PMN, Feng et al., ACM MM 2022): per-pixel black-level maps linear in ISO.

A dark frame's mean above the black level is not flat: every photosite has its own offset
(fixed-pattern noise, amp glow) that grows with ISO. PMN models it per pixel ``p``::

    DS(ISO, p) = k(p) * ISO + b(p) + BLE(ISO)

with one ``(k, b)`` pair for ISO <= ``split_iso`` (the low branch) and another above it (dual
conversion gain sensors switch circuits there; PMN splits the Sony A7S2 at ISO 1600), and a
per-ISO scalar black-level error BLE, the mean residual of the per-pixel lines. The map is
subtracted from the raw DN *before* normalisation::

    dn_corrected = dn - DS(ISO);   raw_norm = (dn_corrected - black) / (white - black)

Maps live on the mosaic (``(H, W)``, DN, black level excluded). :func:`estimate_dark_shading`
fits them from mean dark frames; ``expodiff calibrate`` stores them in an ``.npz`` file beside
the profile (:func:`expodiff.io.dark_shading.save_dark_shading` /
:func:`~expodiff.io.dark_shading.load_dark_shading`, no pickle).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["DarkShading", "estimate_dark_shading", "SHADING_ARRAYS"]

# The per-pixel map fields of a DarkShading.
SHADING_ARRAYS = ("low_k", "low_b", "high_k", "high_b")


@dataclass(frozen=True, eq=False)
class DarkShading:
    """Per-pixel dark-shading model (see the module docstring).

    Attributes:
        low_k, low_b: ``(H, W)`` float32 slope (DN per ISO) and offset (DN) for ISO <= split.
        high_k, high_b: the same above ``split_iso``.
        split_iso: ISO where the branches meet (PMN: 1600).
        black_level_error: ``((iso, dn), ...)`` per-ISO scalar residual, sorted by ISO.
    """

    low_k: np.ndarray
    low_b: np.ndarray
    high_k: np.ndarray
    high_b: np.ndarray
    split_iso: float = 1600.0
    black_level_error: tuple[tuple[float, float], ...] = ()

    def __post_init__(self) -> None:
        shape = np.shape(self.low_k)
        for name in SHADING_ARRAYS:
            arr = np.asarray(getattr(self, name), dtype=np.float32)
            if arr.ndim != 2 or arr.shape != shape:
                raise ValueError(f"dark shading {name} must be (H, W) like low_k {shape}")
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)
        if not self.split_iso > 0:
            raise ValueError(f"split_iso must be > 0, got {self.split_iso}")
        ble = tuple(sorted((float(i), float(v)) for i, v in self.black_level_error))
        object.__setattr__(self, "black_level_error", ble)

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.low_k.shape)  # type: ignore[return-value]

    def black_level_error_at(self, iso: float) -> float:
        """BLE at the nearest tabulated ISO (in log ISO); 0 without a table."""
        if not self.black_level_error:
            return 0.0
        return min(self.black_level_error, key=lambda e: abs(math.log(e[0] / float(iso))))[1]

    def map_for_iso(self, iso: float) -> np.ndarray:
        """``(H, W)`` float32 dark shading in DN at ``iso`` (black level excluded)."""
        iso = float(iso)
        if not iso > 0:
            raise ValueError(f"ISO must be positive, got {iso}")
        k, b = (self.low_k, self.low_b) if iso <= self.split_iso else (self.high_k, self.high_b)
        return (k * np.float32(iso) + b + np.float32(self.black_level_error_at(iso))).astype(
            np.float32
        )

    def subtract(self, mosaic_dn: np.ndarray | torch.Tensor, iso: float):
        """``mosaic_dn - DS(iso)`` as float32, same array type as the input.

        Raises:
            ValueError: the mosaic's ``(..., H, W)`` does not match the maps.
        """
        if tuple(mosaic_dn.shape[-2:]) != self.shape:
            raise ValueError(
                f"dark shading maps are {self.shape[0]}x{self.shape[1]}, the mosaic is "
                f"{mosaic_dn.shape[-2]}x{mosaic_dn.shape[-1]}: calibrate with frames of this size"
            )
        ds = self.map_for_iso(iso)
        if isinstance(mosaic_dn, torch.Tensor):
            return mosaic_dn.float() - torch.from_numpy(ds).to(mosaic_dn.device)
        return np.asarray(mosaic_dn, dtype=np.float32) - ds


def _fit_branch(isos: list[float], maps: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel least-squares line ``map = k * iso + b`` (k = 0 with a single ISO)."""
    if len(isos) == 1:
        return np.zeros_like(maps[0]), maps[0].copy()
    x = np.asarray(isos, dtype=np.float64)
    x_mean = x.mean()
    dx = x - x_mean
    y_mean = np.mean(maps, axis=0, dtype=np.float64)
    k = np.zeros_like(y_mean)
    for d, m in zip(dx, maps, strict=True):
        k += d * (m - y_mean)
    k /= float(np.sum(dx**2))
    b = y_mean - k * x_mean
    return k.astype(np.float32), b.astype(np.float32)


def estimate_dark_shading(
    mean_darks: Mapping[float, np.ndarray], *, split_iso: float = 1600.0
) -> DarkShading:
    """Fit PMN dark shading to mean dark frames.

    Args:
        mean_darks: ISO -> ``(H, W)`` mean of the dark frames at that ISO, DN above the
            black level (the more frames averaged, the less temporal noise in the maps).
        split_iso: branch boundary; ISO <= split_iso uses the low branch.

    Returns:
        A :class:`DarkShading`. A branch with one ISO gets k = 0; a branch with none copies
        the other branch. BLE(ISO) is the mean over pixels of the residual at each ISO.
    """
    if not mean_darks:
        raise ValueError("dark shading needs mean dark frames at one ISO at least")
    shapes = {np.shape(m) for m in mean_darks.values()}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2:
        raise ValueError(f"mean dark frames must share one (H, W) shape, got {sorted(shapes)}")
    items = sorted((float(i), np.asarray(m, dtype=np.float32)) for i, m in mean_darks.items())
    low = [(i, m) for i, m in items if i <= split_iso]
    high = [(i, m) for i, m in items if i > split_iso]
    fits = {}
    for name, branch in (("low", low), ("high", high)):
        if branch:
            fits[name] = _fit_branch([i for i, _ in branch], [m for _, m in branch])
    fits.setdefault("low", fits.get("high"))
    fits.setdefault("high", fits.get("low"))
    ble = []
    for iso, m in items:
        k, b = fits["low"] if iso <= split_iso else fits["high"]
        ble.append((iso, float(np.mean(m - (k * np.float32(iso) + b), dtype=np.float64))))
    return DarkShading(
        low_k=fits["low"][0],
        low_b=fits["low"][1],
        high_k=fits["high"][0],
        high_b=fits["high"][1],
        split_iso=float(split_iso),
        black_level_error=tuple(ble),
    )
