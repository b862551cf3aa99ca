"""The settings of one enhancement (:class:`EnhanceOptions`), checked when they are made."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from numbers import Integral
from pathlib import Path

from ..defaults import MAX_SEED
from ..errors import ExpodiffError
from ..nets.views import ALLOWED_VIEWS
from .limits import MAX_RATIO, MAX_SAMPLES, MAX_STEPS
from .trajectories import MIN_TILE

__all__ = ["EnhanceOptions"]


@dataclass(frozen=True)
class EnhanceOptions:
    """How :func:`~expodiff.inference.api.enhance` treats a frame (each field is also a keyword
    of ``enhance``).

    Attributes:
        ratio: ``"auto"`` or the exposure ratio to brighten by, from 1 to ``MAX_RATIO``
            (:mod:`expodiff.inference.limits`; an automatic ratio above it is an error too).
        steps: network evaluations, 1 to ``MAX_STEPS`` (None: the model's
            ``diffusion.inference_steps``).
        input_consistency_sigma: Gaussian sigma (packed pixels) of the input consistency
            applied to every prediction (:mod:`expodiff.diffusion.consistency`); 0 turns it
            off; None: the model's own ``diffusion.input_consistency_sigma`` (as for every
            setting here, None is the model's value).
        seed: seed of the Poisson draws, 0 to ``MAX_SEED`` (2**64 - 1; None: a random one,
            reported in the result).
        samples: independent trajectories to average, 1 to ``MAX_SAMPLES`` (> 1 also gives
            ``uncertainty``).
        views: dihedral views of the input averaged in every network evaluation, 1, 2, 4 or
            8 (:class:`~expodiff.nets.views.DihedralViews`; each costs one evaluation); None:
            the model's ``diffusion.inference_evaluations`` rule.
        system_gain: K in DN per electron of the input's own DN (``white - black`` is its
            raw_norm 1; converted to the model's ``full_scale_dn`` scale, see
            :mod:`expodiff.inference.gain`); of the model's scale for a packed raw_norm array.
        camera: a packaged profile name or profile ``.json`` to take K from (at the file's
            ISO) instead of matching the file's camera.
        target_exposure: with ``ratio="auto"``: the wanted exposure in seconds (EXIF ratio).
        target_iso: the wanted ISO with ``target_exposure`` (default: the input's).
        tile: frames with a side above this many packed pixels are evaluated in tiles of
            this side (:func:`~expodiff.inference.trajectories.denoise_frame`); 0: never tile;
            None: the model's default (``TILE``, ``STAGED_TILE`` for a staged network).
        srgb: also develop the result to sRGB.

    Raises:
        ExpodiffError: a value out of its range (one line naming it).
    """

    ratio: float | str = "auto"
    steps: int | None = None
    input_consistency_sigma: float | None = None
    seed: int | None = None
    samples: int = 1
    views: int | None = None
    system_gain: float | None = None
    camera: str | Path | None = None
    target_exposure: float | None = None
    target_iso: float | None = None
    tile: int | None = None
    srgb: bool = False

    def __post_init__(self) -> None:
        samples, steps, tile = self.samples, self.steps, self.tile
        consistency = self.input_consistency_sigma
        if isinstance(samples, bool) or int(samples) != samples or not 1 <= samples <= MAX_SAMPLES:
            raise ExpodiffError(
                f"samples must be an integer from 1 to {MAX_SAMPLES} (each runs the whole "
                f"enhancement), got {samples!r}"
            )
        views = self.views
        if views is not None and (isinstance(views, bool) or views not in ALLOWED_VIEWS):
            raise ExpodiffError(
                f"views must be one of {', '.join(map(str, ALLOWED_VIEWS))} (dihedral views "
                f"averaged per network evaluation) or None, got {views!r}"
            )
        if steps is not None and (
            isinstance(steps, bool) or int(steps) != steps or not 1 <= steps <= MAX_STEPS
        ):
            raise ExpodiffError(
                f"steps must be an integer from 1 to {MAX_STEPS} (network evaluations), "
                f"got {steps!r}"
            )
        seed = self.seed
        if seed is not None and (
            isinstance(seed, bool) or not isinstance(seed, Integral) or not 0 <= seed <= MAX_SEED
        ):
            raise ExpodiffError(
                f"seed must be an integer from 0 to 2**64 - 1 or None, got {seed!r}"
            )
        if consistency is not None and not (consistency >= 0 and math.isfinite(consistency)):
            raise ExpodiffError(
                f"input_consistency_sigma must be a finite number >= 0 (0: off), got {consistency}"
            )
        if tile is not None and (
            not isinstance(tile, int) or isinstance(tile, bool) or tile < 0 or 0 < tile < MIN_TILE
        ):
            raise ExpodiffError(
                f"tile must be 0 (no tiling), >= {MIN_TILE} or None (the model's default), "
                f"got {tile}"
            )
        if isinstance(self.ratio, str) and self.ratio.strip().lower() == "auto":
            return
        try:
            value = float(self.ratio)
        except (TypeError, ValueError):
            raise ExpodiffError(f"ratio must be 'auto' or a number, got {self.ratio!r}") from None
        if not math.isfinite(value):
            raise ExpodiffError(
                f"ratio must be a finite number from 1 to {MAX_RATIO:g} or 'auto', got {self.ratio}"
            )
        if not value >= 1:
            raise ExpodiffError(
                "ratio must be a number >= 1 (expodiff brightens, it does not darken), "
                f"got {self.ratio}"
            )
        if value > MAX_RATIO:
            raise ExpodiffError(
                f"ratio must be <= {MAX_RATIO:g} (beyond it a single DN above black is "
                f"amplified to white), got {self.ratio}"
            )

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))
