"""A run's cost over sessions: cumulative CPU hours in log.csv and in every checkpoint."""

from __future__ import annotations

import csv
import json

import pytest

from expodiff.train.checkpoint import find_latest_checkpoint
from expodiff.train.cputime import process_tree_cpu_seconds
from expodiff.train.loop import Trainer
from train_helpers import make_images, tiny


@pytest.fixture(scope="module")
def images(tmp_path_factory, data_dir):  # noqa: ARG001 (unprocess needs sid_meta)
    return make_images(tmp_path_factory.mktemp("clean"))


def test_cpu_seconds_count_live_children():
    import multiprocessing as mp

    ctx = mp.get_context("fork")
    ready, release = ctx.Event(), ctx.Event()
    before = process_tree_cpu_seconds()
    child = ctx.Process(target=_burn, args=(ready, release))
    child.start()
    try:
        assert ready.wait(60)
        assert process_tree_cpu_seconds() - before >= 0.3  # the child's time, while it lives
    finally:
        release.set()
        child.join()


def _burn(ready, release) -> None:
    import time

    t = time.process_time()
    while time.process_time() - t < 0.4:
        pass
    ready.set()
    release.wait(60)


def test_cpu_hours_accumulate_across_a_resume(images, tmp_path):
    out = tmp_path / "run"
    sets = ("train.iterations=4", "train.log_every=1", "train.checkpoint_every=2")
    Trainer(tiny("pg-nafnet1-ed", out, images, *sets)).run(stop_after=2)
    ckpt = find_latest_checkpoint(out)
    first = json.loads((ckpt / "trainer.json").read_text())["extra"]["cpu_seconds"]
    assert first > 0
    resumed = Trainer(tiny("pg-nafnet1-ed", out, images, *sets), resume=True)
    assert resumed.cpu_seconds_before == pytest.approx(first)
    resumed.run()
    with open(out / "log.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4]
    hours = [float(r["cpu_hours"]) for r in rows]
    assert hours == sorted(hours) and hours[2] >= first / 3600.0 * 0.999
    last = json.loads((find_latest_checkpoint(out) / "trainer.json").read_text())["extra"]
    assert last["cpu_seconds"] > first
