"""Run the benchmark: train what the selected tables need, evaluate, measure, write the report.

Every stage is resumable: trained models, per-method results and speed measurements are
cached in the work folder (:mod:`.training`, :mod:`.evaluation`, :mod:`.speed`), so an
interrupted run continues where it stopped, and ``--only TABLE`` runs fill in parts of one
report. The report always shows every table whose results exist in the work folder.
"""

from __future__ import annotations

import csv
import datetime
import logging
from collections.abc import Sequence
from pathlib import Path

import torch

from .bench_config import BenchConfig, BenchTable
from .document import ReportData, TrainInfo, write_document
from .evaluation import Evaluator
from .machine import measure_machine
from .plan import RUNS, TABLES, figure6_methods, runs_for
from .speed import default_model_dir, measure_speed, model_costs
from .texts import intro, preamble
from .training import ensure_trained, experiment_config

__all__ = ["run_benchmark", "collect", "REPORT_ORDER"]

log = logging.getLogger("benchmarks.paper")

REPORT_ORDER: tuple[BenchTable, ...] = (
    BenchTable.TABLE2,
    BenchTable.TABLE4,
    BenchTable.TABLE5,
    BenchTable.TABLE6,
    BenchTable.FIG6,
    BenchTable.FIG5,
    BenchTable.SPEED,
)


def _methods(table: BenchTable, bench: BenchConfig):
    if table is BenchTable.FIG6:
        return figure6_methods(bench.eval.figure_steps)
    return TABLES[table].methods() if table in TABLES else ()


def _speed_models(bench: BenchConfig) -> list[tuple[str, Path | None]]:
    models: list[tuple[str, Path | None]] = [(p, None) for p in bench.speed.presets]
    shipped = default_model_dir()
    if bench.speed.default_model and shipped is not None:
        models.append(("default", shipped))
    return models


def _train_info(workdir: Path, key: str, bench: BenchConfig) -> TrainInfo | None:
    from expodiff.build import build_denoiser
    from expodiff.nets.flops import count_parameters

    run = RUNS[key]
    folder = Path(workdir) / "train" / key
    if not (folder / "log.csv").is_file():
        return None
    with open(folder / "log.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    rates = [float(r["it_per_s"]) for r in rows if float(r.get("it_per_s") or 0) > 0]
    cfg = experiment_config(run, bench.budget, workdir, None)
    return TrainInfo(
        key=key,
        base=run.base,
        overrides=run.overrides,
        summary=run.summary,
        params=count_parameters(build_denoiser(cfg.model)),
        steps_done=int(rows[-1]["step"]) if rows else 0,
        seconds_per_step=(sum(1 / r for r in rates) / len(rates)) if rates else None,
        elapsed_s=float(rows[-1]["elapsed_s"]) if rows else None,
    )


def collect(
    bench: BenchConfig, workdir: Path, evaluator: Evaluator, *, command: str, threads: int
) -> ReportData:
    """Everything cached in ``workdir`` for the report (computes nothing but model sizes)."""
    results = {}
    for table in REPORT_ORDER:
        for m in _methods(table, bench):
            if m.key not in results and (found := evaluator.results(m, compute=False)):
                results[m.key] = found
    speed = []
    for allocator in bench.speed.allocators:
        for name, folder in _speed_models(bench):
            for s in bench.speed.steps:
                found = measure_speed(
                    name,
                    s,
                    bench.speed,
                    threads=threads,
                    workdir=workdir,
                    model_dir=folder,
                    allocator=allocator,
                    compute=False,
                )
                if found is not None:
                    speed.append(found)
    machine = measure_machine()
    training = [t for k in RUNS if (t := _train_info(workdir, k, bench)) is not None]
    data = ReportData(
        bench=bench,
        command=command,
        machine=machine,
        protocol_notes=evaluator.protocol_notes(),
        results=results,
        training=training,
        speed=speed,
        costs=model_costs(default_model_dir() if bench.speed.default_model else None),
    )
    data.preamble = preamble(data, datetime.date.today().isoformat())
    return data


def run_benchmark(
    bench: BenchConfig,
    *,
    tables: Sequence[BenchTable],
    workdir: Path,
    out: Path,
    threads: int | None,
    command: str,
) -> Path:
    """Train, evaluate and measure what ``tables`` need, then write the report to ``out``.

    Args:
        bench: the benchmark config.
        tables: the parts to compute now (the report shows all cached parts).
        workdir: the work folder (models, caches).
        out: the Markdown report (plots in ``out.parent/images``, CSVs in
            ``out.parent/benchmarks``).
        threads: torch threads for training, evaluation, BM3D and the speed processes
            (None: torch's default).
        command: the command line that re-runs the benchmark (printed under every table).

    Returns:
        ``out``.

    Raises:
        BenchInterrupted: training was stopped (Ctrl-C); a checkpoint was saved.
    """
    if threads is not None:
        torch.set_num_threads(threads)
    n_threads = threads or torch.get_num_threads()
    workdir = Path(workdir)
    tables = tuple(tables)
    for key in runs_for(tables, bench.eval.figure_steps):
        outcome = ensure_trained(key, bench.budget, workdir, threads=threads)
        log.info(f"{key}: {outcome.action} ({outcome.seconds:.0f} s) -> {outcome.model_dir}")
    evaluator = Evaluator(bench, workdir, threads=threads)
    for table in tables:
        for m in _methods(table, bench):
            evaluator.results(m)
    if BenchTable.SPEED in tables:
        for allocator in bench.speed.allocators:
            for name, folder in _speed_models(bench):
                for s in bench.speed.steps:
                    what = f"speed: {name}, S={s}, {allocator.value} allocator"
                    log.info(what)
                    r = measure_speed(
                        name,
                        s,
                        bench.speed,
                        threads=n_threads,
                        workdir=workdir,
                        model_dir=folder,
                        allocator=allocator,
                    )
                    log.info(f"{what}: {r.seconds:.1f} s {r.error}".rstrip())
    data = collect(bench, workdir, evaluator, command=command, threads=n_threads)
    sections = [(t, intro(t, data)) for t in REPORT_ORDER]
    path = write_document(data, out, sections)
    log.info(f"report written to {path}")
    return path
