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

from expodiff.build import load_denoiser
from expodiff.cli import main
from expodiff.errors import ConfigError
from expodiff.train.checkpoint import find_latest_checkpoint
from expodiff.train.loop import Trainer
from expodiff.train.runlock import RunLock
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
def test_ctrl_c_saves_a_checkpoint_and_resume_finishes(images, tmp_path, capsys):
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
    # a second run into the same folder while this one trains: refused at once, in one line
    code = main(cmd[3:])
    assert code == 2 and proc.poll() is None
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"(process {proc.pid}) is running into this folder" in err
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


def _snapshot(folder):
    """Every file under ``folder`` with its bytes: what a run must leave untouched."""
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_resume_of_a_copied_run_writes_into_the_copy(images, tmp_path, capsys):
    import shutil

    original, copy = tmp_path / "original", tmp_path / "copy"
    sets = tiny_sets("pg-unet-ed", original, images)
    argv = ["train", "--config", str(CONFIGS / "pg-unet-ed.yaml")]
    for s in sets:
        argv += ["--set", s]
    assert main([*argv, "--stop-after", "2"]) == 0  # stops with a checkpoint
    assert find_latest_checkpoint(original).name == "step_00000002"
    shutil.copytree(original, copy)
    before = _snapshot(original)
    capsys.readouterr()
    # the copy alone (its config records output_dir=original), then a checkpoint inside it
    assert main(["train", "--resume", str(copy), "--set", "train.iterations=3"]) == 0
    assert "model " + str(copy / "model") in capsys.readouterr().out
    assert find_latest_checkpoint(copy).name == "step_00000003"
    assert _snapshot(original) == before  # the original run is untouched
    step3 = find_latest_checkpoint(copy)
    assert main(["train", "--resume", str(step3), "--set", "train.iterations=4"]) == 0
    assert find_latest_checkpoint(copy).name == "step_00000004"
    assert _snapshot(original) == before
    # a checkpoint on its own must be told where to go; into another run's folder: refused
    loose = tmp_path / "loose"
    shutil.copytree(step3, loose)
    capsys.readouterr()
    assert main(["train", "--resume", str(loose)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "outside a run folder" in err and "train.output_dir" in err
    code = main(["train", "--resume", str(loose), "--set", f"train.output_dir={original}"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "holds the checkpoints of another run" in err
    assert _snapshot(original) == before
    assert main(["train", "--resume", str(loose), "--set", f"train.output_dir={tmp_path / 'new'}",
                 "--set", "train.iterations=4"]) == 0  # fmt: skip
    assert find_latest_checkpoint(tmp_path / "new").name == "step_00000004"


def test_one_training_run_per_folder(images, tmp_path, capsys):
    """A second train into a folder whose lock a running process holds fails at once in one
    line; a lock file left by a dead process does not block."""
    out = tmp_path / "run"
    out.mkdir()
    lock = out / ".train.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", (
            "import fcntl, os, sys, time\n"
            f"fd = os.open({str(lock)!r}, os.O_RDWR | os.O_CREAT)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX)\n"
            "os.write(fd, f'{os.getpid()}\\n'.encode())\n"
            "print('locked', flush=True)\n"
            "time.sleep(120)\n"
        )],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "locked"
        argv = ["train", "--config", str(CONFIGS / "pg-unet-ed.yaml")]
        for s in tiny_sets("pg-unet-ed", out, images):
            argv += ["--set", s]
        start = time.perf_counter()
        assert main(argv) == 2
        out_text, err = capsys.readouterr()
        assert time.perf_counter() - start < 20  # before any training
        assert out_text == "" and err.count("\n") == 1
        assert f"another expodiff train (process {holder.pid}) is running" in err
        assert sorted(p.name for p in out.iterdir()) == [".train.lock"]  # nothing written
        # the same through the API: the lock is taken when the run starts
        trainer = Trainer(tiny("pg-unet-ed", tmp_path / "api", images))
        holder2 = RunLock(tmp_path / "api")
        holder2.acquire()
        try:
            with pytest.raises(ConfigError, match="another expodiff train"):
                trainer.run()
        finally:
            holder2.release()
    finally:
        holder.kill()
        holder.wait()
    assert lock.read_text().strip() == str(holder.pid)  # stale: its process is dead
    assert main(argv) == 0
    assert (out / "model" / "model.safetensors").is_file()
