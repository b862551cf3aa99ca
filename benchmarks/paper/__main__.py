"""``python -m benchmarks.paper``: reproduce the paper's claims at an equal budget; speed and
memory (run from the repository root; it reads the package's API and configs/bench/)."""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from expodiff.cli.streams import StderrHandler
from expodiff.errors import ConfigError, ExpodiffError

PROG = "python -m benchmarks.paper"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description=(
            "Train every method the selected tables need at one equal budget (configs/bench/"
            "full.yaml), evaluate them on SID-synth (Kodak24 + Sony A7S2 calibrated noise), "
            "time a full 12-megapixel frame per backbone, and write a Markdown report with "
            "plots and CSVs. Resumable: trained models and results are cached in --workdir. "
            "Tables: table2, table4, table5, table6, fig5, fig6, speed."
        ),
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="a minutes-long smoke run (configs/bench/quick.yaml: tiny budget, 2 images, 1 ratio)",
    )
    p.add_argument(
        "--config", metavar="FILE", help="benchmark YAML (default: configs/bench/full.yaml)"
    )
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a benchmark config value, e.g. --set budget.iterations=500 (repeatable)",
    )
    p.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="TABLE",
        help="compute only these parts (repeatable or comma-separated); the report still shows "
        "every part cached in the workdir",
    )
    p.add_argument(
        "--workdir", default="runs/bench", help="models and cached results (default: runs/bench)"
    )
    p.add_argument(
        "--out",
        default="docs/benchmarks.md",
        help="the Markdown report (default: docs/benchmarks.md)",
    )
    p.add_argument(
        "--threads", type=int, help="torch threads for everything (default: torch's choice)"
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing report")
    p.add_argument("--debug", action="store_true", help="show full tracebacks")
    return p


def _command(args: argparse.Namespace) -> str:
    """The command that re-runs this benchmark (without --only)."""
    parts = [*PROG.split()]
    if args.quick:
        parts.append("--quick")
    if args.config:
        parts += ["--config", args.config]
    for o in args.overrides:
        parts += ["--set", o]
    parts += ["--workdir", args.workdir, "--out", args.out]
    if args.threads is not None:
        parts += ["--threads", str(args.threads)]
    parts.append("--overwrite")
    return shlex.join(parts)


def run(args: argparse.Namespace) -> int:
    from expodiff.io.atomic import check_output_folder, check_output_path

    from .bench_config import default_bench_config_path, load_bench_config, parse_tables
    from .runner import run_benchmark
    from .training import BenchInterrupted

    if args.threads is not None and args.threads < 1:
        raise ConfigError(f"--threads must be >= 1, got {args.threads}")
    tables = parse_tables(args.only)
    config = Path(args.config) if args.config else default_bench_config_path(args.quick)
    bench = load_bench_config(config, args.overrides)
    out = Path(args.out)
    if out.suffix.lower() != ".md":
        raise ConfigError(f"--out {out}: the report is Markdown, use a .md file name")
    check_output_folder(args.workdir, "--workdir")
    check_output_folder(out.parent, f"--out {out}")
    out.parent.mkdir(parents=True, exist_ok=True)
    check_output_path(out, overwrite=args.overwrite)
    for name in ("benchmarks.paper", "expodiff.train"):
        logger = logging.getLogger(name)
        if not logger.handlers:
            handler = StderrHandler()
            handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
            logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    try:
        path = run_benchmark(
            bench,
            tables=tables,
            workdir=Path(args.workdir),
            out=out,
            threads=args.threads,
            command=_command(args),
        )
    except BenchInterrupted:
        print(f"{PROG}: interrupted; re-run the same command to continue", file=sys.stderr)
        return 130
    print(f"benchmark report written to {path}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run; an :class:`ExpodiffError` is one line and exit status 2."""
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except ExpodiffError as exc:
        if args.debug:
            raise
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
