"""The exposure process: schedules and the re-exposure step (pure tensor math)."""

from __future__ import annotations

from enum import Enum


class Reexposure(str, Enum):
    """How the next, longer exposure is simulated from the current prediction.

    RESAMPLE_INPUT: the original input's photons plus a fresh Poisson draw of
        ``(c_next - 1) * prediction`` photons (what the official code does).
    ACCUMULATE: the current state plus a Poisson increment of ``(c_next - c_cur) * prediction``
        photons (paper Eq. 10).
    """

    RESAMPLE_INPUT = "resample"
    ACCUMULATE = "accumulate"
