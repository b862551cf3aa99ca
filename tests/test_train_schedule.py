"""The paper's learning-rate schedule (pure function of the step)."""

import pytest

from expodiff.train.schedule import learning_rate


def test_paper_schedule_boundaries():
    lr = [learning_rate(s, 100) for s in range(100)]
    assert lr[0] == lr[49] == 1e-4
    assert lr[50] == lr[89] == 5e-5
    assert lr[90] == lr[99] == 1e-5


def test_custom_fractions_and_rounding():
    # boundaries round down to whole steps: floor(0.5 * 7) = 3, floor(0.9 * 7) = 6
    got = [learning_rate(s, 7, lr=2.0, halve_at=0.5, final_at=0.9, final=0.1) for s in range(7)]
    assert got == [2.0, 2.0, 2.0, 1.0, 1.0, 1.0, 0.1]


def test_bad_arguments():
    with pytest.raises(ValueError, match="total must be positive, got 0"):
        learning_rate(0, 0)
    with pytest.raises(ValueError, match=r"need 0 <= halve_at \(0.95\) <= final_at \(0.9\) <= 1"):
        learning_rate(0, 10, halve_at=0.95, final_at=0.9)
