"""Distributed training: 2 CPU processes under torchrun (gloo) stay in sync; only rank 0 writes.

Each rank gets its own output folder (``.../rank<R>``) so that anything a rank other than 0
wrote would show up; each rank prints the SHA-256 of its final weights.

Pinned to the CPU on purpose (``train.device=cpu``; tests/conftest.py also empties
``CUDA_VISIBLE_DEVICES`` for the launch): with CUDA visible, ``auto`` makes
:func:`~expodiff.train.distributed.init_distributed` choose NCCL on ``cuda:LOCAL_RANK``, and
on a one-GPU machine both ranks would share ``cuda:0``, which NCCL refuses ("Duplicate GPU
detected"); the bit-identical weights across ranks are also a CPU property (CUDA
convolutions are not deterministic by default). tests/test_devices.py checks the backend
choice itself.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap

import pytest

from expodiff.build import load_denoiser
from train_helpers import CONFIGS, make_images, tiny_sets

LAUNCHER = textwrap.dedent(
    """
    import os, sys
    from expodiff.cli import main
    rank = os.environ["RANK"]
    args = sys.argv[1:] + ["--set", f"train.output_dir={os.environ['DDP_OUT']}/rank{rank}"]
    sys.exit(main(args))
    """
)


@pytest.mark.slow
def test_two_gloo_ranks_end_identical_and_only_rank0_writes(tmp_path, data_dir):  # noqa: ARG001
    images = make_images(tmp_path / "clean")
    launcher = tmp_path / "launch.py"
    launcher.write_text(LAUNCHER)
    sets = tiny_sets("pg-unet-ed", tmp_path / "unused", images) + [
        "train.iterations=3",
        "train.log_every=1",
        "train.checkpoint_every=2",
        "train.val_every=2",
        "train.device=cpu",
        "train.num_threads=1",
    ]
    args = ["train", "--config", str(CONFIGS / "pg-unet-ed.yaml")]
    for s in sets:
        args += ["--set", s]
    env = {**os.environ, "DDP_OUT": str(tmp_path / "out"), "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nnodes=1",
        "--nproc_per_node=2",
        str(launcher),
        *args,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    digests = dict(re.findall(r"rank (\d)/2: step 3, weights sha256 ([0-9a-f]{64})", proc.stderr))
    assert set(digests) == {"0", "1"}, proc.stderr[-3000:]
    assert digests["0"] == digests["1"]
    # rank 0 wrote the run; rank 1 wrote nothing at all
    rank0 = tmp_path / "out" / "rank0"
    assert (rank0 / "model" / "model.safetensors").is_file()
    assert (rank0 / "checkpoints" / "step_00000002").is_dir()
    assert (rank0 / "log.csv").is_file() and (rank0 / "val.csv").is_file()
    assert not (tmp_path / "out" / "rank1").exists()
    # and the written weights are the ones both ranks ended with
    from expodiff.train.distributed import weights_digest

    model, _ = load_denoiser(rank0 / "model")
    assert weights_digest(model) == digests["0"]
