"""python -m benchmarks.paper: the --quick smoke run, resumption, and its building blocks."""

from __future__ import annotations

import csv
import math
import re

import pytest
import torch
from benchmarks.paper.__main__ import main
from benchmarks.paper.bench_config import BenchTable, load_bench_config, parse_tables
from benchmarks.paper.evaluation import highlight_metrics
from benchmarks.paper.plan import RUNS, TABLES, figure6_methods, runs_for
from benchmarks.paper.report import (
    ANALYSIS_PLACEHOLDER,
    KEPT_TAIL_MARKER,
    analysis_block,
    kept_analysis,
    kept_tail,
)

from expodiff.errors import ConfigError

TABLE_HEADINGS = ("Table 2", "Table 4", "Table 5", "Table 6", "Figure 6", "Figure 5", "Speed")


@pytest.fixture(scope="module")
def quick(tmp_path_factory, data_dir):
    """One --quick benchmark (python -m benchmarks.paper) into a temporary folder (shared by
    the tests of this module)."""
    root = tmp_path_factory.mktemp("bench")
    argv = ["--quick", "--workdir", str(root / "work"), "--threads", "1"]
    argv += ["--out", str(root / "docs" / "benchmarks.md")]
    assert main(argv) == 0
    return root, argv


@pytest.mark.slow
def test_quick_run_writes_every_table_plot_and_csv(quick):
    root, _ = quick
    text = (root / "docs" / "benchmarks.md").read_text()
    for heading in TABLE_HEADINGS:
        assert re.search(rf"^## {heading}", text, re.M), heading
    assert "not run" not in text and "failed" not in text
    for table in BenchTable:  # a re-run command under every table
        assert text.count(f" --only {table.value}`") == 1, table
    assert "No GPU" in text
    for table in BenchTable:
        assert f"<!-- analysis:{table.value} -->" in text
    for name in ("table6_ratios", "fig6_steps", "fig5_arl", "speed", "memory"):
        png = root / "docs" / "images" / f"bench_{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with open(root / "docs" / "benchmarks" / "table2.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    methods = {r["method"] for r in rows}
    assert {"scaled input", "BM3D", "A-BM3D", "Noise2Noise (S=1)"} <= methods
    assert all(math.isfinite(float(r["psnr"])) and float(r["psnr"]) > 10 for r in rows)
    with open(root / "docs" / "benchmarks" / "speed.csv", newline="") as fh:
        speed = list(csv.DictReader(fh))
    assert speed and all(float(r["seconds"]) > 0 and float(r["peak_rss_mib"]) > 0 for r in speed)


@pytest.mark.slow
def test_rerun_reuses_models_and_keeps_the_analysis(quick):
    root, argv = quick
    report = root / "docs" / "benchmarks.md"
    weights = root / "work" / "train" / "pg-nafnet1-ed" / "model" / "model.safetensors"
    stamp = weights.stat().st_mtime_ns
    text = report.read_text().replace(
        "<!-- analysis:table4 -->\n" + ANALYSIS_PLACEHOLDER, "<!-- analysis:table4 -->\nKept."
    )
    tail = f"{KEPT_TAIL_MARKER}\n\n## An ablation measured elsewhere\n\n| a | b |\n"
    report.write_text(text + "\n" + tail)
    assert main([*argv, "--only", "table4", "--overwrite"]) == 0
    assert weights.stat().st_mtime_ns == stamp  # reused, not retrained
    again = report.read_text()
    assert "<!-- analysis:table4 -->\nKept.\n<!-- /analysis:table4 -->" in again
    assert "## Figure 6" in again and "not run" not in again  # cached parts still shown
    assert again.endswith(tail) and again.count(KEPT_TAIL_MARKER) == 1  # hand-written end kept


@pytest.mark.slow
def test_existing_report_is_not_replaced_without_overwrite(quick, capsys):
    root, argv = quick
    assert main([*argv, "--only", "table4"]) == 2
    assert "already exists" in capsys.readouterr().err


@pytest.mark.slow
def test_other_budget_in_the_same_workdir_is_refused(quick, capsys):
    root, argv = quick
    code = main([*argv, "--only", "table4", "--overwrite", "--set", "budget.iterations=3"])
    assert code == 2
    err = capsys.readouterr().err
    assert "other settings" in err and "train.iterations" in err


def test_highlight_metrics_hand_case():
    ref = torch.zeros(1, 10, 10)
    ref[0, 0, :5] = 1.0  # the brightest 5 % are these 5 values
    pred = ref.clone()
    pred[0, 0, :5] = 0.9
    pred[0, 5, 5] = 0.5  # outside the highlights: no effect
    m = highlight_metrics(pred, ref, 0.05)
    assert m["hl_mae"] == pytest.approx(0.1)
    assert m["hl_psnr"] == pytest.approx(20.0)


def test_plan_is_consistent():
    from dataclasses import replace

    specs = [m for t in TABLES.values() for m in t.methods()] + list(figure6_methods((1, 2, 3)))
    by_key = {}
    for m in specs:  # one cache key <-> one evaluated thing (labels may differ per table)
        assert by_key.setdefault(m.key, replace(m, label="")) == replace(m, label=""), m.key
    assert len({m.key for m in figure6_methods((1, 2, 3))}) == 12
    assert set(runs_for(tuple(BenchTable), (1, 2))) == set(RUNS)
    assert runs_for((BenchTable.SPEED,), (1,)) == ()


def test_parse_tables_and_strict_config(tmp_path):
    assert parse_tables([]) == tuple(BenchTable)
    assert parse_tables(["table2,fig6", "table2"]) == (BenchTable.TABLE2, BenchTable.FIG6)
    with pytest.raises(ConfigError, match="valid: table2"):
        parse_tables(["table3"])
    bad = tmp_path / "b.yaml"
    bad.write_text("budget:\n  iterationz: 3\n")
    with pytest.raises(ConfigError, match="iterationz"):
        load_bench_config(bad)


def test_kept_analysis_round_trip(tmp_path):
    report = tmp_path / "r.md"
    report.write_text("x\n" + analysis_block("fig5", {"fig5": "Two\nlines."}) + "y\n")
    assert kept_analysis(report) == {"fig5": "Two\nlines."}
    assert ANALYSIS_PLACEHOLDER in analysis_block("fig6", {})
    assert kept_tail(report) == "" and kept_tail(tmp_path / "missing.md") == ""
    report.write_text(f"generated\n{KEPT_TAIL_MARKER}\nmine\n\n")
    assert kept_tail(report) == f"{KEPT_TAIL_MARKER}\nmine\n"


def test_the_benchmark_runs_beside_the_package(tmp_path, capsys):
    """``python -m benchmarks.paper`` from the repository root; the package itself has no
    benchmark command and no benchmark modules."""
    import subprocess
    import sys
    from pathlib import Path

    import expodiff
    from expodiff.cli import main as expodiff_main

    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.paper", "--help"],
        cwd=root, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert out.returncode == 0 and "python -m benchmarks.paper" in out.stdout
    assert main(["--out", str(tmp_path / "report.txt")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("python -m benchmarks.paper: error:") and "\n" not in err
    with pytest.raises(SystemExit) as exc:
        expodiff_main(["benchmark", "--quick"])
    assert exc.value.code == 2
    assert not (Path(expodiff.__file__).parent / "bench").exists()
