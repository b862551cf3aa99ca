"""Kinds of training objectives (no heavy imports: :mod:`expodiff.config` imports this)."""

from __future__ import annotations

from enum import Enum


class TrainObjective(str, Enum):
    """What ``expodiff train`` optimises.

    SUPERVISED: Algorithm 1 of the paper against the clean reference (ExposureDiffusion with
        ``diffusion.train_steps`` T >= 2, or the feed-forward baseline with T = 1).
    NOISE2NOISE: the Noise2Noise baseline: a feed-forward network (S = T = 1) trained to map one
        noisy realisation to a second, independent one drawn from the noise model with the same
        clean image, gain and ratio, under an L2 loss (whose minimiser is the clean mean).
        Needs synthetic data (a noise model), not real pairs.
    """

    SUPERVISED = "supervised"
    NOISE2NOISE = "noise2noise"
