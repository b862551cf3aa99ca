"""Settings of ``python -m benchmarks.paper``: the tables, the training budget, evaluation and
speed.

A benchmark config (``configs/bench/full.yaml``, ``configs/bench/quick.yaml``) is a YAML file
read strictly by :func:`load_bench_config` (unknown keys are errors naming the valid ones, as
for experiment configs). It holds only what every trained method shares (the *equal budget*),
how the evaluation is sub-sampled, and what the speed table measures. Which models each table
trains and compares lives in :mod:`benchmarks.paper.plan`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from expodiff.defaults import TILE, TILE_OVERLAP
from expodiff.errors import ConfigError

__all__ = [
    "BenchTable",
    "Allocator",
    "BudgetConfig",
    "BenchEvalConfig",
    "SpeedConfig",
    "BenchConfig",
    "load_bench_config",
    "default_bench_config_path",
    "parse_tables",
]


class BenchTable(str, Enum):
    """The parts of the report (``--only`` takes these names).

    TABLE2: scaled input, BM3D, A-BM3D, Noise2Noise, feed-forward and ExposureDiffusion, all
        trained with P+G noise (paper Table 2).
    TABLE4: P+G vs ELD training noise, feed-forward vs ExposureDiffusion (paper Table 4).
    TABLE5: backbones, feed-forward vs ExposureDiffusion each, plus parameters and FLOPs
        (paper Table 5).
    TABLE6: trained at x100 only, evaluated at x100 / x250 / x300 (paper Table 6).
    FIG5: adaptive residual layer on (fused) vs off (direct, residual), with the error in the
        brightest pixels (paper Figure 5).
    FIG6: PSNR vs inference steps for ExposureDiffusion and a feed-forward network run
        iteratively, both re-exposure variants (paper Figure 6).
    SPEED: seconds and peak memory for a full 12-megapixel frame per backbone and step count.
    """

    TABLE2 = "table2"
    TABLE4 = "table4"
    TABLE5 = "table5"
    TABLE6 = "table6"
    FIG5 = "fig5"
    FIG6 = "fig6"
    SPEED = "speed"


class Allocator(str, Enum):
    """glibc allocator settings of a speed measurement.

    DEFAULT: as a user's shell runs ``expodiff`` (no ``GLIBC_TUNABLES``).
    TUNED: the Makefile's ``GLIBC_TUNABLES`` (huge mmap/trim thresholds): large convolutions
        stop paying page faults for their temporaries (up to 2x faster on this CPU), but
        freed memory stays resident, so the peak RSS is higher.
    """

    DEFAULT = "default"
    TUNED = "tuned"


@dataclass(frozen=True)
class BudgetConfig:
    """The training budget every trained method gets, identically (the paper's "same budget")."""

    iterations: int = 1000  # optimiser steps
    batch_size: int = 4
    patch_size: int = 128  # training crop side, packed pixels
    lr: float = 1e-3  # peak learning rate of the paper's schedule (halved at 50 %, final at 90 %)
    seed: int = 0  # weights, data order, crops, noise and schedules
    train_sets: tuple[str, ...] = ("CBSD68", "McMaster")  # clean sets unprocessed to raw
    num_workers: int = 1  # DataLoader worker processes (bookkeeping: not part of the budget)
    checkpoint_every: int = 250  # resumability granularity (bookkeeping)
    log_every: int = 50  # progress lines in the log (bookkeeping)

    def __post_init__(self) -> None:
        for name in ("iterations", "batch_size", "patch_size", "checkpoint_every", "log_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.num_workers < 0:
            raise ValueError(f"num_workers must be >= 0, got {self.num_workers}")
        if not self.train_sets:
            raise ValueError("train_sets must name at least one clean set")


@dataclass(frozen=True)
class BenchEvalConfig:
    """The SID-synth evaluation and how the slow parts of it are sub-sampled."""

    # Experiment config of the evaluation protocol (noise model, protocol), relative to the
    # configs folder or a path: the SID-synth protocol by default.
    protocol_config: str = "eval-sid-synth.yaml"
    sets: tuple[str, ...] = ("Kodak24",)
    ratios: tuple[float, ...] = (100.0, 250.0, 300.0)
    max_images: int | None = None  # images per ratio for the tables (None: the whole set)
    seed: int = 0  # noise and sampler seed
    bm3d_images: int = 6  # BM3D / A-BM3D run on the first N images only (slow on a CPU)
    bm3d_crop: int | None = None  # ... and on a centre crop of this side (None: whole images)
    bm3d_profile: str = "np"  # bm3d package profile ("np": the default; "lc": low complexity)
    figure_images: int = 8  # images per ratio of the steps figure (Figure 6)
    figure_steps: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
    highlight_fraction: float = 0.05  # Figure 5: the brightest fraction of reference values

    def __post_init__(self) -> None:
        if not self.ratios or any(not r >= 1 for r in self.ratios):
            raise ValueError(f"ratios must be numbers >= 1, got {list(self.ratios)}")
        for name in ("max_images", "bm3d_crop"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be >= 1 or null, got {value}")
        for name in ("bm3d_images", "figure_images"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not self.figure_steps or min(self.figure_steps) < 1:
            raise ValueError(f"figure_steps must be >= 1, got {list(self.figure_steps)}")
        if not 0 < self.highlight_fraction < 1:
            raise ValueError(f"highlight_fraction must be in (0, 1), got {self.highlight_fraction}")


@dataclass(frozen=True)
class SpeedConfig:
    """Speed and memory of one full frame per backbone and step count (fresh process each)."""

    presets: tuple[str, ...] = ("unet", "unet-slim", "nafnet1", "nafnet2", "nafnet-s")
    default_model: bool = True  # also the shipped default model, when the package has one
    steps: tuple[int, ...] = (1, 3)
    height: int = 1424  # packed size of a 12-megapixel Sony A7S II frame (4256 x 2848 mosaic)
    width: int = 2128
    tile: int | None = TILE  # tiled network evaluation, packed pixels (None: whole frame)
    overlap: int = TILE_OVERLAP
    allocators: tuple[Allocator, ...] = (Allocator.DEFAULT,)  # each measured separately
    timeout_s: float = 1800.0  # per measurement

    def __post_init__(self) -> None:
        if not self.steps or min(self.steps) < 1:
            raise ValueError(f"steps must be >= 1, got {list(self.steps)}")
        if self.height < 1 or self.width < 1:
            raise ValueError(f"height and width must be >= 1, got {self.height}x{self.width}")
        if self.tile is not None and not 0 <= self.overlap < self.tile:
            raise ValueError(f"need 0 <= overlap < tile, got {self.overlap}, {self.tile}")
        if not self.timeout_s > 0:
            raise ValueError(f"timeout_s must be > 0, got {self.timeout_s}")
        if not self.allocators:
            raise ValueError("allocators must name at least one of: default, tuned")


@dataclass(frozen=True)
class BenchConfig:
    """One benchmark: its name, budget, evaluation and speed settings."""

    name: str = "benchmark"
    budget: BudgetConfig = field(default_factory=BudgetConfig)
    eval: BenchEvalConfig = field(default_factory=BenchEvalConfig)
    speed: SpeedConfig = field(default_factory=SpeedConfig)


def default_bench_config_path(quick: bool = False) -> Path:
    """``configs/bench/{full,quick}.yaml`` of the source checkout.

    Raises:
        ConfigError: the package does not run from a source checkout (pass ``--config``).
    """
    from expodiff.paths import project_root

    root = project_root()
    name = "quick.yaml" if quick else "full.yaml"
    path = root / "configs" / "bench" / name if root is not None else None
    if path is None or not path.is_file():
        raise ConfigError(
            f"configs/bench/{name} not found (not a source checkout): pass --config FILE"
        )
    return path


def load_bench_config(path: str | Path, overrides: Sequence[str] = ()) -> BenchConfig:
    """Read a benchmark YAML strictly and apply ``key.sub=value`` overrides."""
    from expodiff.config import load_config

    return load_config(path, overrides, cls=BenchConfig)


def parse_tables(names: Sequence[str]) -> tuple[BenchTable, ...]:
    """``--only`` values (names or comma-separated lists) as :class:`BenchTable` members.

    Raises:
        ConfigError: an unknown name (the message lists the valid ones).
    """
    out: list[BenchTable] = []
    for item in names:
        for name in filter(None, (p.strip().lower() for p in item.split(","))):
            try:
                table = BenchTable(name)
            except ValueError:
                valid = ", ".join(t.value for t in BenchTable)
                raise ConfigError(f"--only {name}: unknown table; valid: {valid}") from None
            if table not in out:
                out.append(table)
    return tuple(out) or tuple(BenchTable)


def _register_bounds() -> None:
    """The domain of each number of a benchmark config (checked by the config loader)."""
    from expodiff.config.bounds import SEED, Bound, above, at_least, register_bounds

    count, non_negative, ratio = at_least(1), at_least(0), at_least(1)
    register_bounds(
        BudgetConfig,
        {
            "iterations": count,
            "batch_size": count,
            "patch_size": count,
            "lr": above(0),
            "seed": SEED,
            "num_workers": non_negative,
            "checkpoint_every": count,
            "log_every": count,
        },
    )
    register_bounds(
        BenchEvalConfig,
        {
            "ratios": ratio,
            "max_images": count,
            "seed": SEED,
            "bm3d_images": count,
            "bm3d_crop": count,
            "figure_images": count,
            "figure_steps": count,
            "highlight_fraction": Bound(0.0, 1.0, low_open=True, high_open=True),
        },
    )
    register_bounds(
        SpeedConfig,
        {
            "steps": count,
            "height": count,
            "width": count,
            "tile": count,
            "overlap": non_negative,
            "timeout_s": above(0),
        },
    )


_register_bounds()
