"""The machine a benchmark ran on, measured when it runs (never assumed).

The report's provenance line and its sentences about GPUs and shared cores come from a
:class:`Machine` read at run time: CPU model, core count, torch threads and versions, and
the CUDA devices torch can see. The benchmark itself trains, evaluates and times on the CPU;
when a GPU is visible the report says so and that it was not used.
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Machine", "cpu_name", "measure_machine"]


def cpu_name() -> str:
    """The CPU model name (``/proc/cpuinfo``), or ``platform.processor()``."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@dataclass(frozen=True)
class Machine:
    """What the benchmark measured on.

    Attributes:
        cpu: CPU model name.
        cores: logical CPU cores the process may use.
        torch_threads: intra-op threads torch used.
        torch_version, python_version: versions.
        gpus: names of the CUDA devices torch sees (empty: none).
    """

    cpu: str
    cores: int
    torch_threads: int
    torch_version: str
    python_version: str
    gpus: tuple[str, ...] = ()

    def describe(self) -> str:
        """One line for the report's provenance."""
        gpu = ", ".join(self.gpus) if self.gpus else "none"
        return (
            f"{self.cpu} ({self.cores} cores), {self.torch_threads} torch thread(s), "
            f"torch {self.torch_version}, Python {self.python_version}; GPU: {gpu}"
        )

    def gpu_sentence(self) -> str:
        """Where the timings were taken, stated for the machine that took them."""
        if not self.gpus:
            return "No GPU was available for this report: every timing is on the CPU above"
        return (
            f"A GPU was visible ({', '.join(self.gpus)}) but the benchmark does not use it: "
            "every timing is on the CPU above"
        )

    def cores_phrase(self) -> str:
        """``"this 2-core CPU"`` for the machine measured."""
        return f"this {self.cores}-core CPU"


def measure_machine() -> Machine:
    """Read the running machine (imports torch)."""
    import torch

    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    gpus: tuple[str, ...] = ()
    if torch.cuda.is_available():
        gpus = tuple(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
    return Machine(
        cpu=cpu_name(),
        cores=cores,
        torch_threads=torch.get_num_threads(),
        torch_version=torch.__version__,
        python_version=platform.python_version(),
        gpus=gpus,
    )
