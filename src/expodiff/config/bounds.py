"""The domain of every number in a config, checked by the loader value by value.

The loader (:mod:`expodiff.config.loader`) refuses any number that is not finite, then checks
each numeric field against its :class:`Bound` here, so a bad value is one line naming its key
(``train.lr must be > 0, got -0.001``) before any object is built. The dataclasses' own
``__post_init__`` checks stay for what relates several fields (``lo <= hi``) and for objects
built in code.

Every numeric field of a config dataclass the loader builds must have a bound
(``tests/test_config.py`` checks it): a new field without one is an error in the tests, not a
value nobody checks. Config classes outside this package add theirs with
:func:`register_bounds`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..defaults import MAX_INFERENCE_STEPS, MAX_SEED
from .schema import (
    DataConfig,
    DiffusionConfig,
    EvalConfig,
    ModelConfig,
    NoiseConfig,
    TrainConfig,
)

__all__ = ["Bound", "at_least", "above", "between", "SEED", "bound_of", "register_bounds"]


@dataclass(frozen=True)
class Bound:
    """An interval a number must lie in (each end optional, open or closed)."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def problem(self, value: float) -> str | None:
        """What is wrong with ``value`` (None when it lies in the interval)."""
        low_ok = self.low is None or (value > self.low if self.low_open else value >= self.low)
        high_ok = self.high is None or (value < self.high if self.high_open else value <= self.high)
        if low_ok and high_ok:
            return None
        return f"must be {self.describe()}, got {value!r}"

    def describe(self) -> str:
        def show(x: float) -> str:
            return f"{x:g}" if isinstance(x, float) else str(x)

        if self.low is not None and self.high is not None:
            left = "(" if self.low_open else "["
            right = ")" if self.high_open else "]"
            return f"in {left}{show(self.low)}, {show(self.high)}{right}"
        if self.low is not None:
            return f"{'>' if self.low_open else '>='} {show(self.low)}"
        if self.high is not None:
            return f"{'<' if self.high_open else '<='} {show(self.high)}"
        return "a finite number"


def at_least(low: float) -> Bound:
    return Bound(low=low)


def above(low: float) -> Bound:
    return Bound(low=low, low_open=True)


def between(low: float, high: float, *, high_open: bool = False) -> Bound:
    return Bound(low=low, high=high, high_open=high_open)


# Seeds: what torch.Generator.manual_seed takes.
SEED = between(0, MAX_SEED)
_COUNT = at_least(1)
_NON_NEGATIVE = at_least(0)
_POSITIVE = above(0)
_RATIO = at_least(1)  # exposure ratios brighten

# (config class) -> field name -> bound; the bound of a tuple field holds for each number in
# it (also in nested tuples).
_BOUNDS: dict[type, dict[str, Bound]] = {
    NoiseConfig: {
        "gain_range": _POSITIVE,
        "ratio_range": _RATIO,
        "full_scale_dn": _POSITIVE,
        "black_level_dn": _NON_NEGATIVE,
    },
    ModelConfig: {
        "width": _COUNT,
        "depth": _COUNT,
        "enc_blocks": _NON_NEGATIVE,
        "middle_blocks": _NON_NEGATIVE,
        "dec_blocks": _NON_NEGATIVE,
        "pool_size": _COUNT,
    },
    DiffusionConfig: {
        "train_steps": _COUNT,
        # network evaluations per image, as --steps (expodiff.inference.limits says why)
        "inference_steps": between(1, MAX_INFERENCE_STEPS),
        "aux_weight": _NON_NEGATIVE,
        "step_weights": _NON_NEGATIVE,
        "input_consistency_sigma": _POSITIVE,
        "input_consistency_min_electrons": _NON_NEGATIVE,
        "input_consistency_offset_min_electrons": _NON_NEGATIVE,
        # (minimum photo-electrons, steps) pairs; their order and the steps' range are
        # checked by DiffusionConfig itself
        "steps_by_signal": _NON_NEGATIVE,
        # steps x views a default enhancement may spend (views: 1, 2, 4 or 8)
        "inference_evaluations": between(1, 8 * MAX_INFERENCE_STEPS),
    },
    DataConfig: {
        "eld_scenes": _COUNT,
        "eld_ratios": _RATIO,
        "patch_size": _COUNT,
        "batch_size": _COUNT,
        "num_workers": _NON_NEGATIVE,
        "val_crop": _COUNT,
        "val_ratios": _RATIO,
        "wb_jitter": at_least(1.0),
        "decode_cache_mb": _NON_NEGATIVE,
    },
    TrainConfig: {
        "iterations": _COUNT,
        "lr": _POSITIVE,
        "lr_halve_at": between(0.0, 1.0),
        "lr_final_at": between(0.0, 1.0),
        "lr_final": _POSITIVE,
        "adam_betas": between(0.0, 1.0, high_open=True),
        "weight_decay": _NON_NEGATIVE,
        "grad_clip": _POSITIVE,
        "seed": SEED,
        "num_threads": _COUNT,
        "log_every": _COUNT,
        "val_every": _NON_NEGATIVE,
        "val_max_images": _COUNT,
        "checkpoint_every": _NON_NEGATIVE,
        "keep_checkpoints": _COUNT,
        "ema_decay": Bound(low=0.0, high=1.0, low_open=True, high_open=True),
    },
    EvalConfig: {
        "ratios": _RATIO,
        "seed": SEED,
        "crop": _COUNT,
        "max_images": _COUNT,
        "tile": _NON_NEGATIVE,  # 0: never tile
        "tile_overlap": _NON_NEGATIVE,
    },
}


def register_bounds(cls: type, bounds: dict[str, Bound]) -> None:
    """Declare the bounds of the numeric fields of another config dataclass."""
    _BOUNDS.setdefault(cls, {}).update(bounds)


def bound_of(cls: type, name: str) -> Bound | None:
    """The bound of field ``name`` of ``cls`` (None: not declared)."""
    return _BOUNDS.get(cls, {}).get(name)


def check_number(value: float, bound: Bound | None) -> str | None:
    """What is wrong with one number of a config (not finite, or outside ``bound``)."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"must be a finite number, got {value!r}"
    return None if bound is None else bound.problem(value)
