"""``torchrun --nproc_per_node N -m expodiff enhance DIR -o OUT`` (issue 13): each rank its share.

The share is every N-th file of the sorted folder from index RANK; each rank writes only its
own outputs, prints its lines prefixed ``[rank R/N]``; rank 0 prints the total and a failure
on any rank makes the launch exit non-zero. The launch test runs 2 CPU ranks with
``--device auto``, which is the CPU (tests/conftest.py hides CUDA from the processes of
unmarked tests; tests/test_devices.py checks what ``auto`` picks when CUDA is visible).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from enhance_helpers import save_tiny_model, small_dark_dng
from expodiff.errors import ConfigError
from expodiff.inference.ranks import RankInfo, rank_info, share


def test_rank_info_from_the_torchrun_environment():
    assert rank_info({}) == RankInfo(0, 1, 0) and not rank_info({}).enabled
    info = rank_info({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1"})
    assert info == RankInfo(3, 4, 1) and info.enabled and info.prefix == "[rank 3/4] "
    assert rank_info({}).prefix == ""
    for env, problem in [
        ({"RANK": "4", "WORLD_SIZE": "4"}, "need 0 <= RANK < WORLD_SIZE"),
        ({"RANK": "x", "WORLD_SIZE": "2"}, "not integers: RANK='x'"),
        ({"WORLD_SIZE": "0"}, "need 0 <= RANK < WORLD_SIZE"),
    ]:
        with pytest.raises(ConfigError, match=problem):
            rank_info(env)


@pytest.mark.parametrize("world", [1, 2, 3, 7])
def test_shares_are_disjoint_cover_everything_and_are_strided(world):
    items = [f"f{i:02d}" for i in range(11)]
    shares = [share(items, RankInfo(r, world, r)) for r in range(world)]
    assert sorted(sum(shares, [])) == items
    for r, part in enumerate(shares):
        assert part == items[r::world]
        assert max(len(p) for p in shares) - len(part) <= 1  # balanced to one file


def _torchrun(folder: Path, out: Path, model: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes=1",
        "--nproc_per_node=2", "-m", "expodiff", "enhance", str(folder), "-o", str(out),
        "--model", str(model), "--ratio", "100", "--steps", "1",
    ]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=150)


def _written(stdout: str) -> dict[str, int]:
    """file name -> the rank that printed its summary line."""
    lines = re.findall(r"^\[rank (\d)/2\] \S+/(\w+\.\w+) -> \S+: ratio", stdout, re.M)
    return {name: int(rank) for rank, name in lines}


@pytest.mark.slow
def test_two_cpu_ranks_split_a_folder(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for i in (1, 2, 4, 5):
        small_dark_dng(folder / f"{i:02d}.dng", 96, 128, seed=i)
    (folder / "03.NEF").write_bytes(b"\0" * 1000)  # sorted third: rank 0's second file
    model = save_tiny_model(tmp_path / "model")
    out = tmp_path / "out"
    out.mkdir()
    (out / "05.png").write_bytes(b"finished by an earlier run")  # rank 0's third file

    proc = _torchrun(folder, out, model)
    assert proc.returncode != 0, proc.stdout + proc.stderr[-3000:]  # a rank failed
    # shares: 01, 03, 05 (rank 0) and 02, 04 (rank 1)
    assert _written(proc.stdout) == {"01.dng": 0, "02.dng": 1, "04.dng": 1}, (
        proc.stdout + proc.stderr[-3000:]
    )
    assert re.search(r"^\[rank 0/2\] \S+/05.dng -> \S+/05.png: exists, skipped", proc.stdout, re.M)
    assert re.search(
        r"^\[rank 0/2\] expodiff: error: \S+/03.NEF: not a camera raw", proc.stderr, re.M
    )
    assert proc.stdout.count("ranks:") == 1  # only rank 0 prints the total
    assert "2 ranks: 3 written, 1 skipped (exist), 1 failed" in proc.stdout
    assert "expodiff: error: 1 of 4 inputs failed" in proc.stderr
    assert sorted(p.name for p in out.iterdir()) == ["01.png", "02.png", "04.png", "05.png"]
    assert (out / "05.png").read_bytes() == b"finished by an earlier run"
