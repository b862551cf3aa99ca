"""The benchmark describes the machine it measured (issue 14: no hard-coded 'no GPU')."""

from __future__ import annotations

import pytest
import torch
from benchmarks.paper.machine import Machine, measure_machine


def _machine(gpus=()) -> Machine:
    return Machine("Test CPU", 16, 4, "2.11", "3.12.1", tuple(gpus))


def test_describe_names_what_was_measured():
    assert _machine().describe() == (
        "Test CPU (16 cores), 4 torch thread(s), torch 2.11, Python 3.12.1; GPU: none"
    )
    assert _machine(["NVIDIA H100"]).describe().endswith("GPU: NVIDIA H100")
    assert _machine().cores_phrase() == "this 16-core CPU"


def test_gpu_sentence_follows_the_machine():
    assert _machine().gpu_sentence().startswith("No GPU was available")
    with_gpu = _machine(["NVIDIA H200"]).gpu_sentence()
    assert "NVIDIA H200" in with_gpu and "No GPU" not in with_gpu


def test_measure_machine_reads_cuda_devices(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i: f"GPU{i}")
    machine = measure_machine()
    assert machine.gpus == ("GPU0", "GPU1")
    assert machine.cores >= 1 and machine.torch_threads >= 1
    assert machine.torch_version == torch.__version__


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only description")
def test_measure_machine_without_cuda():
    assert measure_machine().gpus == ()
