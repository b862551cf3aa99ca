"""Folder runs on several processes: ``torchrun --nproc_per_node N -m expodiff enhance DIR -o OUT``.

torchrun starts N copies of the command and sets ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``
(and ``MASTER_ADDR``/``MASTER_PORT``) in each. Every copy plans the same jobs (the inputs in
the order given, a folder's files sorted by name) and takes its **share**: jobs
``rank, rank + N, rank + 2N, ...`` (:func:`share`), so the split is deterministic, needs no
communication, and no rank ever writes another rank's outputs. Each rank runs on its own
device (``--device auto``/``cuda``: ``cuda:LOCAL_RANK`` when CUDA is available, else the
CPU; an explicit ``cuda:N`` is taken as given).

At the end the ranks meet once in a gloo process group (CPU tensors, whatever the device of
the network) to add up their counts: rank 0 prints the total, and a failure on any rank makes
every rank exit non-zero, so ``torchrun`` does too. Meeting at the end also keeps a rank that
finishes early from exiting (torchrun stops the other workers when one exits with an error).
Without torchrun (``WORLD_SIZE`` unset or 1) nothing of this happens.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

from ..errors import ConfigError

__all__ = ["RankInfo", "rank_info", "share", "FolderCounts", "total_counts"]

T = TypeVar("T")
# How long the ranks wait for the slowest one at the end (its share may hold a few more or
# larger files); a rank that crashes makes torchrun stop the others, so nothing waits forever.
FINISH_TIMEOUT = timedelta(hours=24)


@dataclass(frozen=True)
class RankInfo:
    """This process's place among the ranks of a torchrun launch (0 of 1 without one)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def prefix(self) -> str:
        """What this rank's lines start with (empty for a single process)."""
        return f"[rank {self.rank}/{self.world_size}] " if self.enabled else ""


def rank_info(environ: dict[str, str] | None = None) -> RankInfo:
    """The rank, world size and local rank that torchrun set (``RANK``, ``WORLD_SIZE``,
    ``LOCAL_RANK``), or a single process when ``WORLD_SIZE`` is absent.

    Raises:
        ConfigError: values that are not integers or do not fit (``0 <= RANK < WORLD_SIZE``).
    """
    env = os.environ if environ is None else environ
    names = ("RANK", "WORLD_SIZE", "LOCAL_RANK")
    try:
        world = int(env.get("WORLD_SIZE", "1"))
        rank = int(env.get("RANK", "0"))
        local = int(env.get("LOCAL_RANK", str(rank)))
    except ValueError:
        values = ", ".join(f"{n}={env.get(n)!r}" for n in names)
        raise ConfigError(f"torchrun environment: not integers: {values}") from None
    if world < 1 or not 0 <= rank < world or local < 0:
        values = ", ".join(f"{n}={env.get(n)!r}" for n in names)
        raise ConfigError(f"torchrun environment: need 0 <= RANK < WORLD_SIZE, got {values}")
    return RankInfo(rank, world, local)


def share(items: Sequence[T], info: RankInfo) -> list[T]:
    """This rank's share of ``items``: every ``world_size``-th from index ``rank``."""
    return list(items[info.rank :: info.world_size])


@dataclass(frozen=True)
class FolderCounts:
    """What a rank did with its share: outputs written, skipped (existing), failed."""

    written: int = 0
    skipped: int = 0
    failed: int = 0


def total_counts(counts: FolderCounts, info: RankInfo) -> FolderCounts:
    """The counts summed over all ranks (this rank's own without torchrun).

    Starts a gloo process group from torchrun's ``MASTER_ADDR``/``MASTER_PORT`` (unless one
    is running), adds the counts up and closes the group it started. Every rank must call it.
    """
    if not info.enabled:
        return counts
    import torch
    import torch.distributed as dist

    started = not dist.is_initialized()
    if started:
        dist.init_process_group(
            backend="gloo", rank=info.rank, world_size=info.world_size, timeout=FINISH_TIMEOUT
        )
    # A group already running may be NCCL (GPU tensors only): count in a gloo one.
    group = None if started else dist.new_group(backend="gloo", timeout=FINISH_TIMEOUT)
    try:
        values = torch.tensor([counts.written, counts.skipped, counts.failed], dtype=torch.int64)
        dist.all_reduce(values, op=dist.ReduceOp.SUM, group=group)
        written, skipped, failed = (int(v) for v in values)
    finally:
        if started:
            dist.destroy_process_group()
    return FolderCounts(written, skipped, failed)
