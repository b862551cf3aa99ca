"""A resumable, shardable training sampler that pairs with the draw convention of datasets.

:class:`EpochSampler` yields an endless stream ``epoch * n + perm_epoch[i]``: every epoch a
fresh permutation of the ``n`` items (seeded by ``(seed, epoch)``), and an index that tells
the dataset which draw (epoch) it serves (see :mod:`expodiff.data.base`). The stream is a
pure function of the seed, so

* resuming after ``k`` samples is ``EpochSampler(..., start=k)`` - the same indices, hence
  the same crops, flips and metadata as the uninterrupted run;
* distributed ranks take interleaved positions of the one global stream
  (``rank, rank + world_size, ...``), so together they see each epoch exactly once.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from torch.utils.data import Sampler

__all__ = ["EpochSampler"]


class EpochSampler(Sampler[int]):
    """Endless shuffled dataset indices with the epoch encoded (``epoch * n + item``).

    Args:
        num_items: ``len(dataset)``.
        seed: permutation seed.
        shuffle: False walks items in order every epoch.
        start: how many samples *this rank* has already consumed (for resuming).
        rank, world_size: this process's share of the global stream.
    """

    def __init__(
        self,
        num_items: int,
        *,
        seed: int = 0,
        shuffle: bool = True,
        start: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if num_items < 1:
            raise ValueError(f"num_items must be >= 1, got {num_items}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is outside world size {world_size}")
        if start < 0:
            raise ValueError(f"start must be >= 0, got {start}")
        self.num_items = int(num_items)
        self.seed = int(seed)
        self.shuffle = shuffle
        self.start = int(start)
        self.rank = int(rank)
        self.world_size = int(world_size)

    def _order(self, epoch: int) -> np.ndarray:
        if not self.shuffle:
            return np.arange(self.num_items)
        return np.random.default_rng([self.seed & 0xFFFFFFFF, epoch]).permutation(self.num_items)

    def index_at(self, position: int) -> int:
        """Dataset index at global stream position ``position``."""
        epoch, offset = divmod(position, self.num_items)
        return epoch * self.num_items + int(self._order(epoch)[offset])

    def __iter__(self) -> Iterator[int]:
        position = self.start * self.world_size + self.rank
        epoch, order = -1, np.arange(0)
        while True:
            e, offset = divmod(position, self.num_items)
            if e != epoch:
                epoch, order = e, self._order(e)
            yield epoch * self.num_items + int(order[offset])
            position += self.world_size
