"""Every default value that more than one module needs, in one place (torch-free).

The config schema (:mod:`expodiff.config.schema`) takes its defaults from here, and so do the
functions of the physics and network layers that offer a default, so a library call, a
config file, the CLI and the benchmarks agree.
"""

from __future__ import annotations

__all__ = [
    "ELD_BLACK_LEVEL_DN",
    "ELD_WHITE_LEVEL_DN",
    "ELD_FULL_SCALE_DN",
    "SID_CAMERA",
    "DEFAULT_CAMERA",
    "GAIN_RANGE",
    "TRAIN_RATIO_RANGE",
    "TILE",
    "STAGED_TILE",
    "TILE_OVERLAP",
    "MAX_SEED",
    "MAX_INFERENCE_STEPS",
]

# ELD's 14-bit recipe (Wei et al., CVPR 2020; the official ELD / ExposureDiffusion code): the
# nominal black level and saturation of the calibrations, and the DN span raw_norm 1 maps to.
ELD_BLACK_LEVEL_DN = 800.0
ELD_WHITE_LEVEL_DN = 16383.0
ELD_FULL_SCALE_DN = ELD_WHITE_LEVEL_DN - ELD_BLACK_LEVEL_DN  # 15583

# The camera of SID's Sony subset, and the noise profile used when none is named.
SID_CAMERA = "SonyA7S2"
DEFAULT_CAMERA = SID_CAMERA

# K (DN per electron) drawn log-uniformly from this range in training (ELD's recipe).
GAIN_RANGE = (0.1, 30.0)
# Exposure ratios of training (the paper's SID setting, U(100, 300)).
TRAIN_RATIO_RANGE = (100.0, 300.0)

# Tiled network evaluation of large frames: tile side and overlap, packed pixels.
TILE = 512
TILE_OVERLAP = 32
# The tile side of a staged network (expodiff.nets.staged): its encoder and decoder tiles carry
# margins of their receptive radii (~80 packed px), which would double the cost of 512 tiles.
STAGED_TILE = 1024

# Random seeds: 0 to the largest value torch.Generator.manual_seed takes (64 bits).
MAX_SEED = 2**64 - 1

# Most sampler steps (network evaluations per image) a model config or a user may ask for;
# why 50 is generous: expodiff.inference.limits.
MAX_INFERENCE_STEPS = 50
