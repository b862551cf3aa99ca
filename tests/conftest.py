"""Shared fixtures: the reference-data folder, the CPU/GPU split, and small helpers.

**Every test runs on the CPU unless it is marked ``gpu``.** Many tests compare against
numbers measured on the CPU (golden values, bit-identical resumes, seeded samples), fork
DataLoader workers, or launch ``torchrun``; on a CUDA machine ``device="auto"`` would move
them to the GPU, where CUDA convolutions are not bit-reproducible, forked workers inherit a
CUDA context, and a process group picks NCCL. So for unmarked tests
``torch.cuda.is_available()`` is False in this process and ``CUDA_VISIBLE_DEVICES`` is empty
for the processes they start: ``auto`` resolves to the CPU, as it does on a machine without a
GPU. Tests marked ``gpu`` see the real CUDA and are skipped, with the reason, without it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from expodiff.paths import data_root

# Asked once, before any test hides CUDA (the answer of the real runtime).
CUDA_AVAILABLE = torch.cuda.is_available()


def pytest_collection_modifyitems(config, items):  # noqa: ARG001
    skip = pytest.mark.skip(reason="needs CUDA (torch.cuda.is_available() is False here)")
    for item in items:
        if item.get_closest_marker("gpu") is not None and not CUDA_AVAILABLE:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _cpu_unless_marked_gpu(request, monkeypatch):
    """Hide CUDA from tests not marked ``gpu`` (see the module docstring)."""
    if request.node.get_closest_marker("gpu") is not None:
        return
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")


@pytest.fixture(autouse=True)
def _one_cpu_thread():
    """Every test starts with one intra-op CPU thread: the tests' tensors are tiny, where one
    thread is as fast as two and immune to busy cores (on a loaded machine OpenMP threads
    spin-wait for cores they do not get: up to 10x slower), and a test that sets its own count
    (a Trainer's train.num_threads, benchmark --threads) no longer changes the tests after it."""
    if torch.get_num_threads() != 1:
        torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _no_darktable_profiles(monkeypatch):
    """No installed darktable noise profiles unless a test names a file itself
    (tests/test_enhance_darktable.py): an unknown camera's K must not depend on whether
    darktable is installed where the tests run."""
    monkeypatch.setenv("EXPODIFF_DARKTABLE_NOISEPROFILES", "")


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The shared reference data (EXPODIFF_DATA); tests needing it skip if it is absent."""
    root = data_root()
    if not (root / "README.md").is_file():
        pytest.skip(f"reference data not found at {root} (set EXPODIFF_DATA)")
    return root


@pytest.fixture(scope="session")
def raw_dir(data_dir: Path) -> Path:
    return data_dir / "raw"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    """A freshly initialised tiny nafnet1 saved as a model folder (one per test module)."""
    from enhance_helpers import save_tiny_model

    return save_tiny_model(tmp_path_factory.mktemp("model") / "nafnet1")


@pytest.fixture(scope="module")
def sid(tmp_path_factory):
    """A tiny SID tree with the real layout, names and list files (one per test module)."""
    from fixtures_data import make_sid_tree

    return make_sid_tree(tmp_path_factory.mktemp("sid"))
