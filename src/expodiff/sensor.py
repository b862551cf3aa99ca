"""Sensor levels and photon bookkeeping.

Notation (paper Eq. 1): a raw value in digital numbers is ``X = K * I + N`` above the black
level, with ``I`` photo-electrons and ``K`` the overall system gain in DN per electron.

=================  =========================================================================
name here          meaning
=================  =========================================================================
``dn``             raw digital number as stored in the file, black level included
``raw_norm``       ``(dn - black) / (white - black)``: 0 at black, 1 at the white level
``electrons``      photo-electrons, ``(dn - black) / system_gain``
``system_gain``    K, DN per electron, on this sensor's DN scale
=================  =========================================================================

:class:`SensorSpec` holds per-colour-plane black levels in the canonical plane order of
:mod:`expodiff.raw` (R, Gr, B, Gb) and maps them onto packed channels or mosaics.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .raw import CFAPattern, cfa_period, channel_planes

__all__ = ["SensorSpec"]


@dataclass(frozen=True)
class SensorSpec:
    """Black/white levels, CFA layout and (optionally) system gain of one sensor.

    Attributes:
        black_level: per colour plane (R, Gr, B, Gb), in DN.
        white_level: saturation level in DN (one value for all planes).
        cfa: colour filter array layout of the mosaic.
        system_gain: K in DN per electron, or None when unknown.
    """

    black_level: tuple[float, float, float, float]
    white_level: float
    cfa: CFAPattern = CFAPattern.RGGB
    system_gain: float | None = None

    def __post_init__(self) -> None:
        if len(self.black_level) != 4:
            raise ValueError(f"black_level needs 4 values (R, Gr, B, Gb), got {self.black_level}")
        object.__setattr__(self, "black_level", tuple(float(b) for b in self.black_level))
        if not max(self.black_level) < self.white_level:
            raise ValueError(
                f"white_level {self.white_level} must exceed every black level {self.black_level}"
            )
        if self.system_gain is not None and not self.system_gain > 0:
            raise ValueError(f"system_gain must be > 0 DN/electron, got {self.system_gain}")

    @classmethod
    def uniform(
        cls,
        black_level: float,
        white_level: float,
        cfa: CFAPattern = CFAPattern.RGGB,
        system_gain: float | None = None,
    ) -> SensorSpec:
        """A spec with the same black level on every plane."""
        return cls((black_level,) * 4, white_level, cfa, system_gain)

    # ----------------------------------------------------------------- level maps
    def packed_black(self, device=None, dtype=torch.float32) -> torch.Tensor:
        """Black level per packed channel, shape ``(C, 1, 1)``."""
        values = [self.black_level[p] for p in channel_planes(self.cfa)]
        return torch.tensor(values, device=device, dtype=dtype).view(-1, 1, 1)

    def mosaic_black(self, device=None, dtype=torch.float32) -> torch.Tensor:
        """Black level of one CFA period, shape ``(P, P)`` with P the CFA period."""
        pmap = self.cfa.plane_map()
        vals = [[self.black_level[p] for p in row] for row in pmap]
        return torch.tensor(vals, device=device, dtype=dtype)

    def _tile_black(self, mosaic: torch.Tensor) -> torch.Tensor:
        period = cfa_period(self.cfa)
        h, w = mosaic.shape[-2:]
        if h % period or w % period:
            raise ValueError(f"mosaic size {h}x{w} is not a multiple of the CFA period {period}")
        tile = self.mosaic_black(mosaic.device, torch.float32)
        return tile.repeat(h // period, w // period)

    @property
    def dn_range(self) -> torch.Tensor:
        """``white - black`` per plane (R, Gr, B, Gb)."""
        return torch.tensor([self.white_level - b for b in self.black_level])

    # ------------------------------------------------------------ normalisation
    def normalize_packed(self, packed_dn: torch.Tensor) -> torch.Tensor:
        """``(..., C, H, W)`` DN -> raw_norm (float32), per-channel black level."""
        black = self.packed_black(packed_dn.device)
        return (packed_dn.float() - black) / (self.white_level - black)

    def denormalize_packed(self, raw_norm: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`normalize_packed` (float, not rounded or clipped)."""
        black = self.packed_black(raw_norm.device)
        return raw_norm.float() * (self.white_level - black) + black

    def normalize_mosaic(self, mosaic_dn: torch.Tensor) -> torch.Tensor:
        """``(..., H, W)`` DN mosaic -> raw_norm mosaic (float32)."""
        black = self._tile_black(mosaic_dn)
        return (mosaic_dn.float() - black) / (self.white_level - black)

    def denormalize_mosaic(self, raw_norm: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`normalize_mosaic` (float, not rounded or clipped)."""
        black = self._tile_black(raw_norm)
        return raw_norm.float() * (self.white_level - black) + black

    # ------------------------------------------------------- photon bookkeeping
    def _gain(self, system_gain: float | None) -> float:
        gain = self.system_gain if system_gain is None else system_gain
        if gain is None:
            raise ValueError("system gain K is unknown: pass system_gain or set it on the spec")
        if not gain > 0:
            raise ValueError(f"system_gain must be > 0 DN/electron, got {gain}")
        return float(gain)

    def dn_to_electrons(
        self, packed_dn: torch.Tensor, system_gain: float | None = None
    ) -> torch.Tensor:
        """Packed DN -> photo-electrons above black: ``(dn - black) / K``."""
        return (packed_dn.float() - self.packed_black(packed_dn.device)) / self._gain(system_gain)

    def electrons_to_dn(
        self, electrons: torch.Tensor, system_gain: float | None = None
    ) -> torch.Tensor:
        """Inverse of :meth:`dn_to_electrons`: ``electrons * K + black``."""
        black = self.packed_black(electrons.device)
        return electrons.float() * self._gain(system_gain) + black
