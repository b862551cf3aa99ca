"""One function runs a denoiser over a frame: :func:`denoise_frame` (tiling, samples, views).

:func:`expodiff.enhance`, the evaluation's :class:`~expodiff.eval.methods.ModelMethod` and
the speed benchmarks all call it, so the tile rule and the seeds are one implementation:

* tiles: a frame with a side above ``tile`` packed pixels is evaluated in overlapping tiles of
  that side (:class:`~expodiff.nets.tiling.TiledDenoiser`; only the network call is tiled,
  the re-exposure runs on the whole frame); ``tile = 0`` never tiles. A network with a finite
  receptive field (measured, :mod:`expodiff.nets.receptive`) gets margins of its radius, so
  its tiled result equals the untiled one up to float rounding. A staged network (NAFNet with
  ``global_middle``: local encoder and decoder, global middle blocks) runs its encoder and
  decoder in tiles with margins of their radii and its middle on the whole frame
  (:class:`~expodiff.nets.staged.StagedTiledDenoiser`): the same result at every tile size.
  Otherwise the overlap is ``min(TILE_OVERLAP, tile // 4)`` unless given.
* samples: ``samples`` independent reverse trajectories share the input and differ only in
  their Poisson draws; trajectory ``i`` is seeded with :func:`sample_seed` ``(seed, i)`` (the
  first with ``seed`` itself, so one sample equals a plain
  :func:`~expodiff.diffusion.sampler.sample` call with that seed). Their mean and per-pixel
  standard deviation are accumulated with Welford's algorithm, one frame of memory each.
* views: every network evaluation is the mean over ``views`` dihedral views of its input
  (:class:`~expodiff.nets.views.DihedralViews`, a geometric self-ensemble), each view tiled
  by the rule above; the Poisson draws are the same with any number of views.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from ..defaults import STAGED_TILE, TILE, TILE_OVERLAP
from ..errors import ExpodiffError, ModelError

__all__ = ["MIN_TILE", "ProgressCallback", "sample_seed", "tile_overlap", "tiled", "denoise_frame"]

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


def _generator(seed: int | torch.Generator, index: int, device: torch.device) -> torch.Generator:
    """The generator of trajectory ``index``: ``seed`` itself when it is one, else a fresh
    one (on the device for CUDA) seeded with :func:`sample_seed` ``(seed, index)``."""
    if isinstance(seed, torch.Generator):
        return seed
    gen = torch.Generator(device=device) if device.type == "cuda" else torch.Generator()
    return gen.manual_seed(sample_seed(seed, index))


def tile_overlap(tile: int) -> int:
    """The default overlap of tiles of side ``tile``: ``TILE_OVERLAP``, at most a quarter."""
    return min(TILE_OVERLAP, int(tile) // 4)


def tiled(
    denoiser: Callable[..., Any],
    shape: torch.Size,
    tile: int | None = None,
    overlap: int | None = None,
    on_tile: Callable[[int, int], None] | None = None,
):
    """``denoiser`` itself, or wrapped in a :class:`~expodiff.nets.tiling.TiledDenoiser`
    (a :class:`~expodiff.nets.staged.StagedTiledDenoiser` for a staged network, whatever
    ``overlap`` says) when a side of ``shape`` exceeds ``tile`` (0: never; None: ``STAGED_TILE``
    for a staged network, else ``TILE``); ``overlap`` None: :func:`tile_overlap`;
    ``on_tile(done, total)`` hears of each tile evaluated.

    Raises:
        ExpodiffError: a tile too small for a staged network's receptive fields (the message
            names the smallest that fits).
    """
    from ..nets.staged import StagedTiledDenoiser
    from ..nets.tiling import TiledDenoiser

    h, w = shape[-2:]
    if tile is None:
        tile = STAGED_TILE if _is_staged(denoiser) else TILE
    if tile <= 0 or max(h, w) <= tile:
        return denoiser
    radii = _stage_radii(denoiser)
    if radii is not None:
        try:
            return StagedTiledDenoiser(denoiser, tile=int(tile), radii=radii, on_tile=on_tile)
        except ValueError:
            smallest = next(
                t for t in range(16, 4096, 4) if StagedTiledDenoiser.fits(denoiser, t, radii)
            )
            raise ExpodiffError(
                f"tile {tile} is too small for this model's receptive field (encoder "
                f"{radii.encoder}, decoder {radii.decoder} packed pixels): use a tile of at "
                f"least {smallest}, or 0 (no tiling)"
            ) from None
    margin = None
    if overlap is None:
        overlap, margin = _seamless_overlap(denoiser, int(tile))
    return TiledDenoiser(denoiser, tile=int(tile), overlap=overlap, margin=margin, on_tile=on_tile)


# Raised-cosine cross-fade between the margins of two tiles (packed pixels).
_RAMP = 16
# (probe side, receptive-field radius or None: global) of each network seen, measured once.
_RADII: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


# The stage radii of each staged network seen, measured once.
_STAGE_RADII: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _is_staged(denoiser: Callable[..., Any]) -> bool:
    """Whether ``denoiser`` is a staged network (:mod:`expodiff.nets.staged`)."""
    return bool(getattr(getattr(denoiser, "backbone", None), "staged", False))


def _stage_radii(denoiser: Callable[..., Any]) -> Any:
    """The :class:`~expodiff.nets.receptive.StageRadii` of a staged network (measured once per
    network), or None for any other callable."""
    from ..nets.receptive import stage_radii

    if not _is_staged(denoiser):
        return None
    if denoiser not in _STAGE_RADII:
        with torch.inference_mode(False):  # the probe takes gradients
            radii = stage_radii(denoiser) or stage_radii(denoiser, side=1024)
        if radii is None:
            return None  # a field wider than the probe: the blended tiles below
        _STAGE_RADII[denoiser] = radii
    return _STAGE_RADII[denoiser]


def _seamless_overlap(denoiser: Callable[..., Any], tile: int) -> tuple[int, int | None]:
    """``(overlap, margin)`` of the tiles: for a network with a finite receptive field that
    fits, margins of its radius (each output pixel then comes from a tile that holds all of its
    field: tiled equals untiled up to float rounding); else :func:`tile_overlap` and the
    tiler's own margin. The radius is measured once per network."""
    from ..nets.receptive import receptive_radius

    # A probe of this side sees every radius that margins within half a tile allow.
    side = max(160, tile // 2 + 8)
    try:
        probed, radius = _RADII.get(denoiser, (0, None))
        if radius is None and probed < side:  # not yet probed, or a larger field may now fit
            if hasattr(denoiser, "backbone") and not torch.is_inference_mode_enabled():
                radius = receptive_radius(denoiser, side=side)
            _RADII[denoiser] = (side, radius)
    except TypeError:  # a callable that cannot be weakly referenced: nothing to measure
        radius = None
    if radius is None or 2 * radius + _RAMP >= tile // 2:
        return tile_overlap(tile), None
    return max(tile_overlap(tile), 2 * radius + _RAMP), radius


def denoise_frame(
    denoiser: Callable[..., Any],
    process: Any,
    noisy: torch.Tensor,
    *,
    exposure_ratio: float | torch.Tensor,
    system_gain: float | torch.Tensor,
    steps: int,
    seed: int | torch.Generator,
    samples: int = 1,
    views: int = 1,
    tile: int | None = None,
    overlap: int | None = None,
    device: torch.device | str | None = None,
    correct: Callable | None = None,
    bf16: bool = False,
    progress: ProgressCallback | None = None,
    names: tuple[str, str] | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Mean and standard deviation of ``samples`` sampler trajectories over one frame.

    Args:
        denoiser: ``denoiser(state, photon_level, noisy)`` (the network, or any callable).
        process: the :class:`~expodiff.diffusion.process.ExposureProcess`.
        noisy: ``(B, C, H, W)`` the input amplified by ``exposure_ratio`` (raw_norm).
        exposure_ratio, system_gain: r and K (numbers or ``(B,)``).
        steps: network evaluations per trajectory.
        seed: seed of the first trajectory (:func:`sample_seed` derives the others), or the
            generator of a single trajectory.
        samples: trajectories.
        views: 1, 2, 4 or 8 dihedral views averaged in every network evaluation
            (:class:`~expodiff.nets.views.DihedralViews`; each view is tiled on its own).
        tile, overlap: see :func:`tiled`.
        device: where to run (None: ``noisy``'s device).
        correct: the sampler's ``correct`` hook (input consistency, an evaluation oracle).
        bf16: bf16 autocast for the network.
        progress: called as ``progress(done, total)`` after each network evaluation of a
            tile: ``total`` is samples x steps x views x tiles per view (1 untiled).
        names: ``(model, input)``: every prediction is checked finite before the next
            re-exposure draws photons at its rate, and a :class:`ModelError` names both.
            None: not checked.

    Returns:
        ``(mean, std)`` float32 ``(B, C, H, W)`` on ``device``; ``std`` is None for one
        sample (the population standard deviation otherwise). The mean of one sample is the
        sampler's last prediction itself, as :func:`~expodiff.diffusion.sampler.sample`
        returns it.
    """
    from ..diffusion.sampler import sample_progressive

    device = noisy.device if device is None else torch.device(device)
    if isinstance(seed, torch.Generator) and samples != 1:
        raise ValueError("a generator seeds one trajectory: pass an int seed for samples > 1")
    done = 0

    def advance(*_: int) -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total)

    net, per_step = _network(denoiser, noisy.shape, views, tile, overlap, advance)
    total = steps * samples * (per_step or 1)
    batch = noisy.to(device)
    untiled_step = None if per_step else advance  # a tiled net counts its own tiles
    moments = _RunningMoments()
    autocast = torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=bf16)
    with torch.inference_mode(), autocast:
        for i in range(samples):
            trajectory = sample_progressive(
                process, net, batch, exposure_ratio=exposure_ratio, system_gain=system_gain,
                steps=steps, generator=_generator(seed, i, device), correct=correct,
            )  # fmt: skip
            moments.add(_last_checked(trajectory, names, untiled_step).float())
    return moments.result()


def _network(
    denoiser: Callable[..., Any],
    shape: torch.Size,
    views: int,
    tile: int | None,
    overlap: int | None,
    on_tile: Callable[..., None],
) -> tuple[Callable[..., Any], int | None]:
    """``(network, tiles per step)``: ``denoiser`` tiled for frames of ``shape`` and averaged
    over ``views`` (each view tiled on its own); tiles per step None when untiled."""
    from ..nets.staged import StagedTiledDenoiser
    from ..nets.tiling import TiledDenoiser
    from ..nets.views import VIEW_ORDER, DihedralViews

    def wrap(network: Callable[..., Any], view_shape: torch.Size) -> Callable[..., Any]:
        return tiled(network, view_shape, tile, overlap, on_tile=on_tile)

    net = wrap(denoiser, shape)
    per_step = None
    if isinstance(net, (TiledDenoiser, StagedTiledDenoiser)):
        h, w = shape[-2:]  # a transposed view (the third flag) swaps the sides
        per_step = sum(net.tiles(*((w, h) if view[2] else (h, w))) for view in VIEW_ORDER[:views])
    if views != 1:
        net = DihedralViews(denoiser, views, wrap=wrap)
    return net, per_step


def _last_checked(trajectory, names: tuple[str, str] | None, on_step) -> torch.Tensor:
    """The last prediction of a trajectory, each one checked finite (when ``names`` is given)
    before the next re-exposure draws photons at its rate; ``on_step()`` after each step
    (untiled nets)."""
    prediction = None
    for step in trajectory:
        prediction = step.prediction
        if names is not None and not bool(torch.isfinite(prediction).all()):
            model_name, name = names
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
        if self.mean is None:  # one image is its own mean: no copy
            self.mean = image
            return
        if self.m2 is None:
            self.mean, self.m2 = self.mean.clone(), torch.zeros_like(image)
        delta = image - self.mean
        self.mean += delta / self.count
        self.m2 += delta * (image - self.mean)

    def result(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(mean, std)``; ``std`` None for a single image."""
        assert self.mean is not None
        std = (self.m2 / self.count).sqrt_() if self.m2 is not None else None
        return self.mean, std
