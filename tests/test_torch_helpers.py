"""The tolerance the tests use for floats of two different code paths."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from torch_helpers import TOLERANCES, assert_close_across_paths


def test_one_ulp_passes_and_a_real_difference_fails():
    x = torch.linspace(0.01, 1.0, 100)
    assert_close_across_paths(x, torch.nextafter(x, torch.full_like(x, 2.0)))  # one ulp up
    assert_close_across_paths(x.numpy(), x.numpy().copy())  # numpy arrays too
    with pytest.raises(AssertionError):
        assert_close_across_paths(x, x * (1 + 1e-4))
    with pytest.raises(AssertionError):
        assert_close_across_paths(x.double(), x.double() + 1e-6)  # float64 is tighter
    with pytest.raises(TypeError, match="compare integers exactly"):
        assert_close_across_paths(np.arange(3), np.arange(3))
    assert TOLERANCES[torch.float32] == (1.3e-6, 1e-5)
