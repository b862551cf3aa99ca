"""expodiff train --resume: bit-identical continuation, and Ctrl-C saving a checkpoint."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from expodiff.cli import main
from expodiff.io.modelfiles import load_denoiser
from expodiff.train.checkpoint import find_latest_checkpoint
from expodiff.train.loop import Trainer
from train_helpers import CONFIGS, make_images, tiny, tiny_sets


@pytest.fixture(scope="module")
def images(tmp_path_factory, data_dir):  # noqa: ARG001 (unprocess needs sid_meta)
    return make_images(tmp_path_factory.mktemp("clean"))


@pytest.mark.slow
def test_resume_is_bit_identical(images, tmp_path):
    """N steps straight == N/2 + resume + N/2 (and the worker count does not matter)."""
    straight = Trainer(
        tiny("pg-unet-ed", tmp_path / "a", images, "train.iterations=4", "data.num_workers=1")
    ).run()
    first = Trainer(tiny("pg-unet-ed", tmp_path / "b", images, "train.iterations=4")).run(
        stop_after=2
    )
    assert first.step == 2 and first.model_dir is None
    assert find_latest_checkpoint(tmp_path / "b").name == "step_00000002"
    resumed = Trainer(tiny("pg-unet-ed", tmp_path / "b", images, "train.iterations=4"), resume=True)
    assert resumed.start_step == 2
    second = resumed.run()
    assert second.step == 4
    assert second.weights_digest == straight.weights_digest
    a, _ = load_denoiser(tmp_path / "a" / "model")
    b, _ = load_denoiser(tmp_path / "b" / "model")
    for (k, x), y in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(x, y), k
    # the resumed log continues the first one without duplicates
    with open(tmp_path / "b" / "log.csv") as fh:
        assert [int(r["step"]) for r in csv.DictReader(fh)] == [2, 4]


@pytest.mark.slow
def test_ctrl_c_saves_a_checkpoint_and_resume_finishes(images, tmp_path):
    out = tmp_path / "run"
    sets = tiny_sets("pg-unet-ff", out, images) + [
        "data.num_workers=1",
        "train.iterations=100000",
        "train.log_every=1",
    ]
    cmd = [sys.executable, "-m", "expodiff", "train", "--config", str(CONFIGS / "pg-unet-ff.yaml")]
    for s in sets:
        cmd += ["--set", s]
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    log = out / "log.csv"
    deadline = time.time() + 60
    while time.time() < deadline and proc.poll() is None:
        if log.is_file() and len(log.read_text().splitlines()) >= 3:  # header + 2 steps
            break
        time.sleep(0.2)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "saving a checkpoint" in stderr and "--resume" in stderr
    ckpt = find_latest_checkpoint(out)
    assert ckpt is not None
    step = int(ckpt.name.split("_")[1])
    assert step >= 2
    # continue it (to a short end) from the folder alone: its config comes from the checkpoint
    assert main(["train", "--resume", str(out), "--set", f"train.iterations={step + 1}"]) == 0
    assert (out / "model" / "model.safetensors").is_file()
