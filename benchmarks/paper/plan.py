"""What the benchmark trains and compares: the trained runs, the evaluated methods, the tables.

Every trained run is one of the project's experiment configs (``configs/*.yaml``, the settings
of the paper's tables) with a few overrides naming what differs (backbone, prediction head,
training ratios), and then the benchmark's *equal budget* (:class:`~benchmarks.paper.bench_config.
BudgetConfig`: iterations, batch, patch size, learning rate, seed, training data) applied to
all of them alike. The main backbone is ``nafnet1``, the paper's 4.7 K-parameter NAFNet: the
paper's SID U-Net (7.76 M) needs ~12 s per training step on the project's CPU.

A :class:`MethodSpec` is one row of a table: a trained run evaluated with a number of sampler
steps, a re-exposure variant and optionally the oracle brightness correction inside the loop,
or a classical baseline. Its results are cached per method (see :mod:`.evaluation`), so a
method shared by several tables is evaluated once.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from expodiff.diffusion.process import Reexposure
from expodiff.kinds import Baseline

from .bench_config import BenchTable

__all__ = [
    "TrainedRun",
    "RUNS",
    "EvalSubset",
    "MethodSpec",
    "TableSpec",
    "TABLES",
    "runs_for",
    "figure6_methods",
    "BACKBONES",
]


@dataclass(frozen=True)
class TrainedRun:
    """A model the benchmark trains.

    Attributes:
        key: folder name under ``WORKDIR/train``.
        base: experiment config under ``configs/`` (without ``.yaml``) it starts from.
        overrides: ``key=value`` changes to that config (before the budget is applied).
        summary: one line for the report.
    """

    key: str
    base: str
    overrides: tuple[str, ...] = ()
    summary: str = ""


def _run(key: str, base: str, *overrides: str, summary: str) -> TrainedRun:
    return TrainedRun(key, base, tuple(overrides), summary)


_X100 = "noise.ratio_range=[100,100]"
RUNS: dict[str, TrainedRun] = {
    r.key: r
    for r in (
        _run("pg-nafnet1-ff", "pg-nafnet1-ff", summary="feed-forward, P+G noise"),
        _run("pg-nafnet1-ed", "pg-nafnet1-ed", summary="ExposureDiffusion, P+G noise"),
        _run(
            "pg-nafnet1-n2n",
            "pg-unet-n2n",
            "model.preset=nafnet1",
            summary="Noise2Noise (direct prediction, L2 to a second noisy draw), P+G noise",
        ),
        _run("eld-nafnet1-ff", "eld-nafnet1-ff", summary="feed-forward, ELD noise"),
        _run("eld-nafnet1-ed", "eld-nafnet1-ed", summary="ExposureDiffusion, ELD noise"),
        _run("pg-unet-slim-ff", "pg-nafnet1-ff", "model.preset=unet-slim", summary="feed-forward"),
        _run("pg-unet-slim-ed", "pg-nafnet1-ed", "model.preset=unet-slim", summary="ours"),
        _run("pg-nafnet-s-ff", "pg-nafnet1-ff", "model.preset=nafnet-s", summary="feed-forward"),
        _run("pg-nafnet-s-ed", "pg-nafnet1-ed", "model.preset=nafnet-s", summary="ours"),
        _run("pg100-nafnet1-ff", "pg-nafnet1-ff", _X100, summary="feed-forward, x100 only"),
        _run("pg100-nafnet1-ed", "pg-nafnet1-ed", _X100, summary="ExposureDiffusion, x100 only"),
        _run(
            "pg-nafnet1-ed-direct",
            "pg-nafnet1-ed",
            "model.prediction=direct",
            summary="ExposureDiffusion without the ARL: direct prediction",
        ),
        _run(
            "pg-nafnet1-ed-residual",
            "pg-nafnet1-ed",
            "model.prediction=residual",
            summary="ExposureDiffusion without the ARL: residual prediction",
        ),
    )
}

# Table 5's backbones (CPU-sized stand-ins for the paper's U-Net and NAFNet-2, see the report).
BACKBONES: tuple[tuple[str, str, str], ...] = (
    ("nafnet1", "pg-nafnet1-ff", "pg-nafnet1-ed"),
    ("unet-slim", "pg-unet-slim-ff", "pg-unet-slim-ed"),
    ("nafnet-s", "pg-nafnet-s-ff", "pg-nafnet-s-ed"),
)


class EvalSubset(str, Enum):
    """Which SID-synth inputs a method is evaluated on.

    TABLES: every image (``eval.max_images``) at every ratio.
    BM3D: the first ``eval.bm3d_images`` images (optionally ``eval.bm3d_crop``), where the
        slow BM3D baselines run; every method of Table 2 is also given on it.
    FIGURE: the first ``eval.figure_images`` images (the step-count sweep of Figure 6).
    """

    TABLES = "tables"
    BM3D = "bm3d"
    FIGURE = "figure"


@dataclass(frozen=True)
class MethodSpec:
    """One evaluated method (a table row).

    Attributes:
        label: the row label.
        run: a key of :data:`RUNS` (a trained model), or None for a baseline.
        baseline: the classical baseline when ``run`` is None.
        steps: sampler steps S (None: the model's ``diffusion.inference_steps``).
        reexposure: re-exposure variant at inference (None: the model's own).
        oracle_in_loop: the official code's ground-truth brightness match inside the sampler.
        consistency_sigma: low-frequency consistency with the input (Gaussian sigma in packed
            pixels; ``expodiff enhance --consistency``), None for off.
        subset: the inputs it is evaluated on.
    """

    label: str
    run: str | None = None
    baseline: Baseline | None = None
    steps: int | None = None
    reexposure: Reexposure | None = None
    oracle_in_loop: bool = False
    subset: EvalSubset = EvalSubset.TABLES
    consistency_sigma: float | None = None

    def __post_init__(self) -> None:
        if (self.run is None) == (self.baseline is None):
            raise ValueError("a method is either a trained run or a baseline")
        if self.run is not None and self.run not in RUNS:
            raise ValueError(f"unknown run {self.run!r}")

    @property
    def key(self) -> str:
        """A file-name-safe identifier of exactly what is evaluated (the cache key)."""
        if self.baseline is not None:
            return f"{self.baseline.value}.{self.subset.value}"
        parts = [self.run, f"S{self.steps}" if self.steps else "Sdefault"]
        if self.reexposure is not None:
            parts.append(self.reexposure.value)
        if self.oracle_in_loop:
            parts.append("oracle")
        if self.consistency_sigma is not None:
            parts.append(f"cons{self.consistency_sigma:g}")
        parts.append(self.subset.value)
        return ".".join(parts)

    def on(self, subset: EvalSubset) -> MethodSpec:
        """The same method evaluated on another subset."""
        from dataclasses import replace

        return replace(self, subset=subset)


@dataclass(frozen=True)
class TableSpec:
    """A table of the report: its title and its rows (several sections for Table 2)."""

    table: BenchTable
    title: str
    sections: tuple[tuple[str, tuple[MethodSpec, ...]], ...]

    def methods(self) -> tuple[MethodSpec, ...]:
        """Every row of every section, in order."""
        return tuple(m for _, rows in self.sections for m in rows)


_SCALED = MethodSpec("scaled input", baseline=Baseline.SCALED)
_FF = MethodSpec("feed-forward (S=1)", "pg-nafnet1-ff")
_ED = MethodSpec("ExposureDiffusion (S=3)", "pg-nafnet1-ed")
_N2N = MethodSpec("Noise2Noise (S=1)", "pg-nafnet1-n2n")
# The ground-truth-free alternative to the oracle correction (docs/method.md).
CONSISTENCY_SIGMA = 8.0
_BM3D = MethodSpec("BM3D", baseline=Baseline.BM3D, subset=EvalSubset.BM3D)
_ABM3D = MethodSpec("A-BM3D", baseline=Baseline.ABM3D, subset=EvalSubset.BM3D)


def _table2() -> TableSpec:
    main = (
        _SCALED,
        _N2N,
        _FF,
        _ED,
        MethodSpec(
            "ExposureDiffusion (S=3), oracle correction in the loop",
            "pg-nafnet1-ed",
            oracle_in_loop=True,
        ),
        MethodSpec(
            f"ExposureDiffusion (S=3), input consistency sigma={CONSISTENCY_SIGMA:g}",
            "pg-nafnet1-ed",
            consistency_sigma=CONSISTENCY_SIGMA,
        ),
    )
    subset = (_SCALED.on(EvalSubset.BM3D), _BM3D, _ABM3D) + tuple(
        m.on(EvalSubset.BM3D) for m in (_N2N, _FF, _ED)
    )
    return TableSpec(
        BenchTable.TABLE2,
        "Table 2 analogue: baselines, all learned methods trained with P+G noise (nafnet1)",
        (("all images", main), ("BM3D subset", subset)),
    )


def _table4() -> TableSpec:
    rows = (
        MethodSpec("P+G, feed-forward (S=1)", "pg-nafnet1-ff"),
        MethodSpec("P+G, ExposureDiffusion (S=3)", "pg-nafnet1-ed"),
        MethodSpec("ELD, feed-forward (S=1)", "eld-nafnet1-ff"),
        MethodSpec("ELD, ExposureDiffusion (S=3)", "eld-nafnet1-ed"),
        MethodSpec(
            f"ELD, ExposureDiffusion (S=3), input consistency sigma={CONSISTENCY_SIGMA:g}",
            "eld-nafnet1-ed",
            consistency_sigma=CONSISTENCY_SIGMA,
        ),
    )
    return TableSpec(
        BenchTable.TABLE4,
        "Table 4 analogue: training noise model P+G vs ELD (nafnet1)",
        (("", rows),),
    )


def _table5() -> TableSpec:
    rows = []
    for backbone, ff, ed in BACKBONES:
        rows.append(MethodSpec(f"{backbone}, feed-forward (S=1)", ff))
        rows.append(MethodSpec(f"{backbone}, ExposureDiffusion (S=3)", ed))
    return TableSpec(
        BenchTable.TABLE5, "Table 5 analogue: backbones (P+G training noise)", (("", tuple(rows)),)
    )


def _table6() -> TableSpec:
    rows = (
        MethodSpec("trained x100, feed-forward (S=1)", "pg100-nafnet1-ff"),
        MethodSpec("trained x100, ExposureDiffusion (S=3)", "pg100-nafnet1-ed"),
        MethodSpec("trained x100-x300, feed-forward (S=1)", "pg-nafnet1-ff"),
        MethodSpec("trained x100-x300, ExposureDiffusion (S=3)", "pg-nafnet1-ed"),
    )
    return TableSpec(
        BenchTable.TABLE6,
        "Table 6 analogue: generalisation to unseen ratios (nafnet1, P+G)",
        (("", rows),),
    )


def _fig5() -> TableSpec:
    rows = (
        MethodSpec("ARL on (fused)", "pg-nafnet1-ed"),
        MethodSpec("ARL off: direct", "pg-nafnet1-ed-direct"),
        MethodSpec("ARL off: residual", "pg-nafnet1-ed-residual"),
    )
    return TableSpec(
        BenchTable.FIG5,
        "Figure 5 analogue: the adaptive residual layer (nafnet1, P+G, S=3)",
        (("", rows),),
    )


def figure6_methods(steps: tuple[int, ...]) -> tuple[MethodSpec, ...]:
    """Figure 6: {ExposureDiffusion, feed-forward run iteratively} x {resample, accumulate} x S."""
    out = []
    for run, name in (("pg-nafnet1-ed", "ExposureDiffusion"), ("pg-nafnet1-ff", "feed-forward")):
        for variant in Reexposure:
            for s in steps:
                out.append(
                    MethodSpec(
                        f"{name}, {variant.value}",
                        run,
                        steps=s,
                        reexposure=variant,
                        subset=EvalSubset.FIGURE,
                    )
                )
    return tuple(out)


TABLES: dict[BenchTable, TableSpec] = {
    t.table: t for t in (_table2(), _table4(), _table5(), _table6(), _fig5())
}


def runs_for(tables: tuple[BenchTable, ...], figure_steps: tuple[int, ...]) -> tuple[str, ...]:
    """The trained runs the given tables need, in training order (cheapest first)."""
    needed: list[str] = []
    for table in tables:
        methods = (
            figure6_methods(figure_steps)
            if table is BenchTable.FIG6
            else (TABLES[table].methods() if table in TABLES else ())
        )
        for m in methods:
            if m.run is not None and m.run not in needed:
                needed.append(m.run)
    order = list(RUNS)
    return tuple(sorted(needed, key=order.index))
