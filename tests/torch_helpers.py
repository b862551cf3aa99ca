"""Shared helpers of the tests that draw random tensors or check gradients."""

from __future__ import annotations

import torch


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
