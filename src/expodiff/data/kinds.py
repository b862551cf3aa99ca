"""Closed sets of the data package: dataset kinds and splits (torch-free).

:mod:`expodiff.config` and the command-line parsers import these cheaply;
:mod:`expodiff.data.types` re-exports :class:`Split`.
"""

from __future__ import annotations

from enum import Enum

__all__ = ["DatasetKind", "Split"]


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


class Split(str, Enum):
    """Which part of a dataset: training crops, periodic validation, or the test set."""

    TRAIN = "train"
    VAL = "val"
    TEST = "test"

    @classmethod
    def parse(cls, value: Split | str) -> Split:
        if isinstance(value, cls):
            return value
        for member in cls:
            if str(value).lower() == member.value:
                return member
        raise ValueError(f"unknown split {value!r}; valid: {', '.join(m.value for m in cls)}")
