"""Tables of results: summary means, Markdown per ratio, CSV files."""

import csv

import pytest

from expodiff.eval.report import ImageResult, markdown_report, summarise, write_report


def _results():
    out = []
    for ratio in (100.0, 300.0):
        for i, (p, pg) in enumerate([(30.0, 31.0), (32.0, 35.0)]):
            for method, delta in (("ours", 0.0), ("scaled input", -10.0)):
                m = {"psnr": p + delta, "ssim": 0.9, "psnr_gt": pg + delta, "ssim_gt": 0.95}
                out.append(ImageResult(method, ratio, f"img{i}", m, seconds=0.5))
    return out


def test_summary_means_per_ratio_and_method():
    rows = summarise(_results())
    assert [(r.ratio, r.method) for r in rows] == [
        (100.0, "ours"),
        (100.0, "scaled input"),
        (300.0, "ours"),
        (300.0, "scaled input"),
    ]
    assert rows[0].metrics["psnr"] == pytest.approx(31.0)
    assert rows[0].metrics["psnr_gt"] == pytest.approx(33.0)
    assert rows[1].count == 2


def test_markdown_labels_gt_corrected_numbers():
    md = markdown_report(summarise(_results()), title="T")
    assert "## x100" in md and "## x300" in md
    assert "PSNR (GT-corrected)" in md and "| ours | 31.00 | 0.9000 | 33.00 |" in md


def test_write_report_files(tmp_path):
    files = write_report(tmp_path / "out", _results(), title="T")
    with open(files["summary"]) as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 4 and rows[0]["method"] == "ours"
    assert float(rows[0]["psnr_gt"]) == pytest.approx(33.0)
    with open(files["per_image"]) as fh:
        assert len(list(csv.DictReader(fh))) == 8
    assert files["report"].read_text().startswith("# T")
