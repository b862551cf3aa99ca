"""Shared helpers of the tests: seeded generators, gradient checks, float comparisons."""

from __future__ import annotations

import numpy as np
import torch

# (rtol, atol) for floats that two different code paths computed: torch.testing.assert_close's
# defaults, as kornia's testing/base.py uses them. CPUs differ in the kernels they run (AVX-only,
# AVX2 and AVX-512 builds of a power or a matrix product round differently), so results of two
# paths agree to these tolerances, not bit for bit. Exact equality stays for integers,
# permutations and one path run twice.
TOLERANCES = {
    torch.float16: (1e-3, 1e-5),
    torch.bfloat16: (1.6e-2, 1e-5),
    torch.float32: (1.3e-6, 1e-5),
    torch.float64: (1e-7, 1e-7),
}


def _as_tensor(value) -> torch.Tensor:
    return value if isinstance(value, torch.Tensor) else torch.from_numpy(np.asarray(value))


def assert_close_across_paths(actual, expected, msg: str | None = None) -> None:
    """``actual`` equals ``expected`` up to the rounding of their dtype (:data:`TOLERANCES`).

    For floats of two different code paths; tensors or numpy arrays, of the same dtype and
    shape. Raises AssertionError naming the largest difference otherwise.
    """
    actual, expected = _as_tensor(actual), _as_tensor(expected)
    if actual.dtype not in TOLERANCES:
        raise TypeError(f"not a floating-point tensor: {actual.dtype} (compare integers exactly)")
    rtol, atol = TOLERANCES[actual.dtype]
    torch.testing.assert_close(actual, expected, rtol=rtol, atol=atol, msg=msg)


def gen(seed: int = 0) -> torch.Generator:
    """A CPU generator seeded with ``seed``: every test draws its randomness from one."""
    return torch.Generator().manual_seed(seed)


def assert_gradients_reach_every_parameter(model: torch.nn.Module, out) -> None:
    """Every step's loss of ``out`` (a ``TrainingLosses``) has a non-zero gradient on every
    parameter of ``model``, and the total's backward pass leaves finite gradients on all."""
    params = list(model.parameters())
    for i, step_loss in enumerate(out.per_step):
        grads = torch.autograd.grad(step_loss, params, retain_graph=True, allow_unused=True)
        assert all(gr is not None for gr in grads), i
        assert sum(float(gr.abs().sum()) for gr in grads) > 0, i
    out.total.backward()
    assert all(p.grad is not None and torch.all(torch.isfinite(p.grad)) for p in params)
