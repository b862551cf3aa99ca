"""Bounds of the enhancement options (torch-free: the CLI's value parsers use them).

* ``MAX_STEPS``: network evaluations per trajectory. Every step evaluates the network on the
  whole frame (tens of seconds per step for a 24-megapixel frame on a CPU, docs/enhance.md),
  and the models are trained with 1-3 steps (the paper's and the default model's use 2-3,
  docs/method.md), so hundreds of steps cost many minutes for nothing; 50 is generous. A
  model folder's ``diffusion.inference_steps`` (its default) has the same bound.
* ``MAX_SAMPLES``: trajectories averaged by ``--samples``. Each costs as much as the whole
  enhancement; the standard deviation of N samples is known to about ``1 / sqrt(2 (N - 1))``
  (4.4% at 256), and the mean's noise is already far below the model's error long before.
* ``MIN_RATIO`` / ``MAX_RATIO``: the exposure ratio r. Below 1 would darken. At ``MAX_RATIO``
  one DN above black of a 14-bit sensor (about 16000 DN from black to white) already becomes
  more than half of white, and of a 12-bit sensor (about 4000 DN) white itself: beyond it the
  amplified frame is only quantisation steps and read noise clipped at white (``--ratio 1e9``
  gave a white image). The models are trained at ratios 20-300 (ELD and SID use up to 300).
"""

from __future__ import annotations

from ..defaults import MAX_INFERENCE_STEPS

__all__ = ["MAX_STEPS", "MAX_SAMPLES", "MIN_RATIO", "MAX_RATIO"]

MAX_STEPS = MAX_INFERENCE_STEPS
MAX_SAMPLES = 256
MIN_RATIO = 1.0
MAX_RATIO = 10_000.0
