"""Kinds of training/evaluation data sources."""

from __future__ import annotations

from enum import Enum


class DatasetKind(str, Enum):
    """Where training pairs come from.

    SID_PAIRED: real SID Sony short/long pairs. SID_SYNTHETIC: noise synthesised on SID long
    frames. ELD: the ELD dataset layout. CLEAN_RAW: any folder of raw files as clean targets.
    UNPROCESS: clean sRGB images inverted to linear raw, noise synthesised.
    """

    SID_PAIRED = "sid_paired"
    SID_SYNTHETIC = "sid_synthetic"
    ELD = "eld"
    CLEAN_RAW = "clean_raw"
    UNPROCESS = "unprocess"
