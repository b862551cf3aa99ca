"""``device="auto"`` and the choice of GPU and process-group backend, on any machine.

These tests run on the CPU (tests/conftest.py hides CUDA from unmarked tests). They check
that ``auto`` resolves to the CPU here and, with ``torch.cuda.is_available`` patched to True,
that it would pick this rank's GPU and which backend a process group would use (nothing is
moved to a GPU; the CUDA runs themselves are in tests/test_gpu.py, marked ``gpu``).
"""

from __future__ import annotations

import pytest
import torch
import torch.distributed as dist

import expodiff.train.distributed as distributed
from enhance_helpers import TEST_CONFIG
from expodiff.devices import resolve_device
from expodiff.errors import ConfigError
from expodiff.inference.api import enhance
from expodiff.inference.model_loading import load_model
from expodiff.inference.ranks import FolderCounts, RankInfo, total_counts


def _halve(state, photon_level=None, noisy=None):  # noqa: ARG001
    return (state * 0.5).clamp(0.0, 1.0)


@pytest.fixture
def two_gpus(monkeypatch):
    """Make torch believe two GPUs are visible (nothing may actually run on them)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    selected = []
    monkeypatch.setattr(torch.cuda, "set_device", selected.append)
    return selected


def test_auto_is_the_cpu_without_cuda_and_runs():
    assert not torch.cuda.is_available()  # conftest: unmarked tests see no CUDA
    model = load_model(_halve, config=TEST_CONFIG, device="auto")
    assert model.device == torch.device("cpu")
    dark = torch.full((4, 16, 16), 0.002)
    result = enhance(dark, ratio=100, system_gain=2.0, steps=2, seed=0, device="auto", model=_halve)
    assert result.raw_norm.device.type == "cpu" and torch.isfinite(result.raw_norm).all()
    with pytest.raises(ConfigError, match="device 'cuda': CUDA is not available"):
        load_model(_halve, config=TEST_CONFIG, device="cuda")


def test_auto_would_pick_this_ranks_gpu(two_gpus):  # noqa: ARG001
    resolve = resolve_device
    assert load_model(_halve, config=TEST_CONFIG, device="auto").device == torch.device("cuda", 0)
    assert resolve("auto", 1) == torch.device("cuda", 1)
    assert resolve("cuda", 3) == torch.device("cuda", 1)  # more ranks than GPUs: wrap around
    assert resolve("cuda:0", 1) == torch.device("cuda", 0)  # explicit: as given
    assert resolve("cpu", 1) == torch.device("cpu")


@pytest.mark.parametrize(("device", "backend"), [("auto", "nccl"), ("cpu", "gloo")])
def test_training_process_group_backend(monkeypatch, two_gpus, device, backend):
    """Training under torchrun: NCCL on this rank's GPU when CUDA is visible (why the DDP
    test pins ``train.device=cpu``: NCCL needs one GPU per rank), gloo on the CPU."""
    started = []
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setattr(dist, "is_initialized", lambda: False)
    monkeypatch.setattr(dist, "init_process_group", lambda backend: started.append(backend))
    monkeypatch.setattr(dist, "get_rank", lambda: 1)
    monkeypatch.setattr(dist, "get_world_size", lambda: 2)
    ctx = distributed.init_distributed(device)
    assert started == [backend] and ctx.backend == backend and ctx.enabled
    if backend == "nccl":
        assert ctx.device == torch.device("cuda", 1) and two_gpus == [ctx.device]
    else:
        assert ctx.device == torch.device("cpu") and two_gpus == []


def test_more_training_ranks_than_gpus_is_a_clear_error(monkeypatch, two_gpus):  # noqa: ARG001
    """Three ranks on a machine with two GPUs: two would share one, which NCCL refuses."""
    started = []
    monkeypatch.setenv("WORLD_SIZE", "3")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "3")
    monkeypatch.setenv("LOCAL_RANK", "2")
    monkeypatch.setattr(dist, "init_process_group", lambda backend: started.append(backend))
    with pytest.raises(ConfigError, match="3 ranks on this machine but 2 GPU.*one GPU per rank"):
        distributed.init_distributed("auto")
    assert started == []
    monkeypatch.setattr(dist, "is_initialized", lambda: False)
    monkeypatch.setattr(dist, "get_rank", lambda: 2)
    monkeypatch.setattr(dist, "get_world_size", lambda: 3)
    assert distributed.init_distributed("cpu").backend == "gloo"  # CPU ranks: any number


def test_enhance_ranks_count_with_gloo_even_with_gpus(monkeypatch, two_gpus):  # noqa: ARG001
    """``expodiff enhance`` under torchrun meets once at the end in a gloo group with CPU
    tensors, whatever device its network runs on (no NCCL, no GPU tensors to wait on)."""
    calls = []
    monkeypatch.setattr(dist, "is_initialized", lambda: False)
    monkeypatch.setattr(
        dist, "init_process_group", lambda **kw: calls.append(("init", kw["backend"]))
    )

    def all_reduce(values, op, group=None):  # noqa: ARG001
        calls.append(("all_reduce", values.device.type))
        values.mul_(2)  # as if the other rank had the same counts

    monkeypatch.setattr(dist, "all_reduce", all_reduce)
    monkeypatch.setattr(dist, "destroy_process_group", lambda: calls.append(("destroy",)))
    total = total_counts(FolderCounts(3, 1, 1), RankInfo(1, 2, 1))
    assert total == FolderCounts(6, 2, 2)
    assert calls == [("init", "gloo"), ("all_reduce", "cpu"), ("destroy",)]
    # a single process never starts a group
    calls.clear()
    assert total_counts(FolderCounts(1, 0, 0), RankInfo()) == FolderCounts(1, 0, 0)
    assert calls == []
