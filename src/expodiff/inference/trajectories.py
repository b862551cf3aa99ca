"""Running the sampler for :func:`expodiff.enhance`: tiling, seeds, several trajectories.

``samples`` independent reverse trajectories share the input and differ only in their
Poisson draws; trajectory ``i`` is seeded with :func:`sample_seed` ``(seed, i)`` (the first
with ``seed`` itself, so one sample equals a plain :func:`~expodiff.diffusion.sampler.sample`
call with that seed). Their mean and per-pixel standard deviation are accumulated with
Welford's algorithm, one frame of memory each, whatever the number of samples.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from ..defaults import TILE, TILE_OVERLAP
from ..errors import ModelError
from .model_loading import EnhanceModel

__all__ = [
    "AUTO_TILE",
    "MIN_TILE",
    "ProgressCallback",
    "sample_seed",
    "tiled",
    "run_samples",
]

# Frames with a side above this many packed pixels are evaluated in tiles of this side.
AUTO_TILE = TILE
# Smallest tile side a user may ask for: leaves room for the overlap and the networks' strides.
MIN_TILE = 64

ProgressCallback = Callable[[int, int], None]


def sample_seed(seed: int, index: int) -> int:
    """The seed of trajectory ``index``: ``seed`` itself for the first, then 63-bit values
    derived from ``(seed, index)`` (numpy's SeedSequence), so runs never share trajectories."""
    if index == 0:
        return int(seed)
    state = np.random.SeedSequence([int(seed) & (2**63 - 1), index]).generate_state(2, np.uint32)
    return ((int(state[0]) << 31) ^ int(state[1])) & (2**63 - 1)


def _generator(seed: int, device: torch.device) -> torch.Generator:
    gen = torch.Generator(device=device) if device.type == "cuda" else torch.Generator()
    return gen.manual_seed(seed)


def tiled(
    denoiser: Callable[..., Any],
    shape: torch.Size,
    tile: int | None,
    on_tile: Callable[[int, int], None] | None = None,
):
    """``denoiser`` itself, or wrapped in a :class:`~expodiff.nets.tiling.TiledDenoiser`
    when a side of ``shape`` exceeds the tile (``None``: ``AUTO_TILE``; 0: never);
    ``on_tile(done, total)`` hears of each tile evaluated."""
    from ..nets.tiling import TiledDenoiser

    h, w = shape[-2:]
    side = AUTO_TILE if tile is None else int(tile)
    if side <= 0 or max(h, w) <= side:
        return denoiser
    overlap = min(TILE_OVERLAP, side // 4)
    return TiledDenoiser(denoiser, tile=side, overlap=overlap, on_tile=on_tile)


def run_samples(
    model: EnhanceModel,
    noisy: torch.Tensor,
    *,
    ratio: float,
    system_gain: float,
    steps: int,
    samples: int,
    seed: int,
    tile: int | None = None,
    progress: ProgressCallback | None = None,
    name: str = "input",
    consistency_sigma: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Mean and standard deviation of ``samples`` sampler trajectories.

    Args:
        model: the model (its process, device and denoiser).
        noisy: ``(C, h, w)`` the input amplified by ``ratio`` (raw_norm).
        ratio, system_gain: r and K.
        steps: network evaluations per trajectory.
        samples: trajectories.
        seed: seed of the first trajectory (:func:`sample_seed` derives the others).
        tile: see :func:`tiled`.
        progress: called as ``progress(done, total)`` after each network evaluation of a
            tile: ``total`` is samples x steps x tiles per evaluation (1 untiled), so a long
            single frame reports progress within each step.
        name: the input's name for error messages.
        consistency_sigma: input consistency of every prediction (None: off; see
            :mod:`expodiff.diffusion.consistency`).

    Returns:
        ``(mean, std)`` on the CPU, float32 ``(C, h, w)``; ``std`` is None for one sample
        (the population standard deviation otherwise).

    Raises:
        ModelError: the model produced NaN or infinite values.
    """
    from ..diffusion.consistency import input_consistency
    from ..diffusion.sampler import sample_progressive
    from ..nets.tiling import TiledDenoiser

    process = model.process()
    done = 0

    def advance(*_: int) -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total)

    net = tiled(model.denoiser, noisy.shape, tile, on_tile=advance)
    per_step = net.tiles(*noisy.shape[-2:]) if isinstance(net, TiledDenoiser) else 1
    total = steps * samples * per_step
    batch = noisy.to(model.device)[None]
    untiled_step = None if isinstance(net, TiledDenoiser) else advance
    correct = input_consistency(consistency_sigma) if consistency_sigma else None
    moments = _RunningMoments()
    with torch.inference_mode():
        for i in range(samples):
            trajectory = sample_progressive(
                process,
                net,
                batch,
                exposure_ratio=ratio,
                system_gain=system_gain,
                steps=steps,
                generator=_generator(sample_seed(seed, i), model.device),
                correct=correct,
            )
            moments.add(_last_checked(trajectory, model.name, name, untiled_step)[0].float())
    return moments.result()


def _last_checked(trajectory, model_name: str, name: str, on_step) -> torch.Tensor:
    """The last prediction of a trajectory, each one checked finite before the next
    re-exposure draws photons at its rate; ``on_step()`` after each step (untiled nets)."""
    prediction = None
    for step in trajectory:
        prediction = step.prediction
        if not bool(torch.isfinite(prediction).all()):
            raise ModelError(f"{model_name}: the model produced NaN or infinite values on {name}")
        if on_step is not None:
            on_step()  # untiled: one unit per step (a tiled net counts its tiles)
    assert prediction is not None
    return prediction


class _RunningMoments:
    """Mean and population standard deviation of images added one at a time (Welford)."""

    def __init__(self) -> None:
        self.count = 0
        self.mean: torch.Tensor | None = None
        self.m2: torch.Tensor | None = None

    def add(self, image: torch.Tensor) -> None:
        self.count += 1
        if self.mean is None:
            self.mean, self.m2 = image.clone(), torch.zeros_like(image)
            return
        delta = image - self.mean
        self.mean += delta / self.count
        self.m2 += delta * (image - self.mean)

    def result(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(mean, std)`` on the CPU; ``std`` None for a single image."""
        assert self.mean is not None and self.m2 is not None
        std = (self.m2 / self.count).sqrt_().cpu() if self.count > 1 else None
        return self.mean.cpu(), std
