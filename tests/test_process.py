"""ExposureProcess: schedules, photon bookkeeping, and the physics of the re-exposure step."""

from __future__ import annotations

import pytest
import torch

from expodiff.diffusion.process import ExposureProcess, Reexposure
from torch_helpers import gen

FS = 15583.0


# --------------------------------------------------------------------------- schedules
@pytest.mark.parametrize("steps", [1, 2, 3, 5, 8])
def test_inference_schedule_evenly_spaced_from_1_to_r(steps):
    r = torch.tensor([1.5, 100.0, 300.7])
    s = ExposureProcess().inference_schedule(r, steps)
    assert s.shape == (3, steps + 1)
    assert torch.all(s[:, 0] == 1) and torch.equal(s[:, -1], r)
    assert torch.all(s[:, 1:] > s[:, :-1])
    expected = torch.stack([torch.linspace(1, float(v), steps + 1) for v in r])
    torch.testing.assert_close(s, expected)


def test_inference_schedule_paper_example():
    s = ExposureProcess().inference_schedule(torch.tensor([100.0]), 3)
    torch.testing.assert_close(s, torch.tensor([[1.0, 34.0, 67.0, 100.0]]))


@pytest.mark.parametrize("steps", [1, 2, 3, 4])
def test_training_schedule_distinct_integers_inside(steps):
    r = torch.tensor([100.0, 250.5, 20.0, 300.0] * 8)
    s = ExposureProcess().training_schedule(r, steps, generator=gen(1))
    assert s.shape == (32, steps + 1)
    assert torch.all(s[:, 0] == 1) and torch.equal(s[:, -1], r)
    assert torch.all(s[:, 1:] > s[:, :-1])  # strictly increasing => distinct
    inner = s[:, 1:-1]
    assert torch.equal(inner, inner.round())
    assert torch.all(inner > 1) and torch.all(inner < r[:, None])


def test_training_schedule_varies_per_sample_and_call_and_is_seeded():
    p = ExposureProcess()
    r = torch.full((16,), 300.0)
    a = p.training_schedule(r, 3, generator=gen(5))
    b = p.training_schedule(r, 3, generator=gen(5))
    c = p.training_schedule(r, 3, generator=gen(6))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert len({tuple(row.tolist()) for row in a}) > 1


def test_training_schedule_covers_all_integers():
    # r = 5 with 2 intermediates: subsets of {2, 3, 4}; all three values must appear.
    s = ExposureProcess().training_schedule(torch.full((200,), 5.0), 3, generator=gen(2))
    assert set(s[:, 1:-1].flatten().tolist()) == {2.0, 3.0, 4.0}


def test_training_schedule_small_ratio_falls_back_to_reals():
    r = torch.tensor([2.5, 3.0, 1.2])  # (1, r) holds 1, 1 and 0 integers; need 2
    s = ExposureProcess().training_schedule(r, 3, generator=gen(3))
    assert torch.all(s[:, 1:] > s[:, :-1])
    assert torch.all(s[:, 1:-1] > 1) and torch.all(s[:, 1:-1] < r[:, None])


def test_feed_forward_schedule_is_one_interval():
    r = torch.tensor([100.0, 7.0])
    p = ExposureProcess()
    expected = torch.tensor([[1.0, 100.0], [1.0, 7.0]])
    assert torch.equal(p.inference_schedule(r, 1), expected)
    assert torch.equal(p.training_schedule(r, 1, generator=gen()), expected)


@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        (torch.tensor([0.5]), r"must be finite and >= 1, got \[0.5\]"),
        (torch.tensor([float("nan")]), r"must be finite and >= 1, got \[nan\]"),
        (torch.tensor(2.0), r"must have shape \(B,\), got \(\)"),
    ],
)
def test_schedule_rejects_bad_ratio(bad, problem):
    with pytest.raises(ValueError, match=f"^exposure_ratio {problem}$"):
        ExposureProcess().inference_schedule(bad, 3)


@pytest.mark.parametrize("steps", [0, -1, 2.5, True])
def test_schedule_rejects_bad_steps(steps):
    with pytest.raises(ValueError, match=f"^steps must be an integer >= 1, got {steps}$"):
        ExposureProcess().training_schedule(torch.tensor([10.0]), steps)


def test_constructor_validates():
    with pytest.raises(ValueError, match="full_scale_dn must be > 0, got 0"):
        ExposureProcess(full_scale_dn=0)
    assert ExposureProcess(reexposure="accumulate").reexposure is Reexposure.ACCUMULATE


# --------------------------------------------------------------- photon bookkeeping
def test_electrons_match_the_documented_formula_and_round_trip():
    p = ExposureProcess(full_scale_dn=FS)
    x = torch.rand(2, 4, 3, 5)
    c, r, k = torch.tensor([3.0, 50.0]), torch.tensor([100.0, 200.0]), torch.tensor([0.5, 4.0])
    e = p.electrons(x, c, r, k)
    expected = x * (c / r / k * FS).view(2, 1, 1, 1)
    torch.testing.assert_close(e, expected)
    torch.testing.assert_close(p.from_electrons(e, c, r, k), x)
    # the conditioning map is the state's electrons over full_scale_dn = state * c / (r K)
    torch.testing.assert_close(p.photon_level(x, c, r, k), e / FS)
    torch.testing.assert_close(p.photon_level(x, c, r, k), x * (c / (r * k)).view(2, 1, 1, 1))


def test_numbers_broadcast_to_the_batch():
    p = ExposureProcess()
    x = torch.rand(3, 4, 2, 2)
    torch.testing.assert_close(
        p.photon_level(x, 2.0, 100.0, 1.0),
        p.photon_level(x, torch.full((3,), 2.0), torch.full((3,), 100.0), torch.ones(3)),
    )
    with pytest.raises(
        ValueError, match=r"exposure_multiple must be a number or have shape \(3,\)"
    ):
        p.photon_level(x, torch.ones(2), 100.0, 1.0)


# ------------------------------------------------------------------- physics
@pytest.mark.parametrize("variant", list(Reexposure))
def test_reexposure_has_poisson_statistics_in_photons(variant):
    """Constant prediction: the added electrons are Poisson, mean == variance == rate."""
    p = ExposureProcess(full_scale_dn=FS, reexposure=variant)
    b, shape = 2, (2, 4, 128, 128)
    r = torch.tensor([100.0, 250.0])
    k = torch.tensor([2.0, 0.7])
    c_cur, c_next = torch.tensor([10.0, 40.0]), torch.tensor([30.0, 120.0])
    pred = torch.full(shape, 0.3)
    noisy = torch.full(shape, 0.2)
    state = torch.full(shape, 0.25)
    nxt = p.reexpose(noisy, state, pred, c_cur, c_next, r, k, generator=gen(7))
    e_next = p.electrons(nxt, c_next, r, k)
    if variant is Reexposure.RESAMPLE_INPUT:
        base = p.electrons(noisy, 1.0, r, k)
        rate = p.electrons(pred, c_next - 1, r, k)
    else:
        base = p.electrons(state, c_cur, r, k)
        rate = p.electrons(pred, c_next - c_cur, r, k)
    added = (e_next - base).double()
    for i in range(b):
        lam = float(rate[i, 0, 0, 0])
        n = added[i].numel()
        mean, var = float(added[i].mean()), float(added[i].var())
        # 6 sigma bounds: sd(mean) = sqrt(lam / n); sd(var) ~ lam * sqrt(2 / n) (+ kurtosis)
        assert abs(mean - lam) < 6 * (lam / n) ** 0.5, (i, mean, lam)
        assert abs(var - lam) < 6 * lam * (2 / n) ** 0.5 + 6 * (lam / n) ** 0.5, (i, var, lam)
        # counts are integers of electrons
        frac = (added[i] - added[i].round()).abs().max()
        assert frac < 1e-2 * max(1.0, lam) ** 0.5


def test_resample_is_centred_on_the_exposure_it_simulates():
    """E[state at c] = (input * 1 + prediction * (c - 1)) / c in reference brightness."""
    p = ExposureProcess()
    shape = (1, 4, 128, 128)
    noisy, pred = torch.full(shape, 0.1), torch.full(shape, 0.4)
    nxt = p.reexpose(
        noisy, noisy, pred, 1.0, 5.0, torch.tensor([100.0]), torch.tensor([1.0]), generator=gen(3)
    )
    assert abs(float(nxt.mean()) - (0.1 + 0.4 * 4) / 5) < 1e-3


def test_reexposure_clips_sources_and_rate():
    p = ExposureProcess()
    shape = (1, 4, 8, 8)
    noisy = torch.full(shape, -0.5)  # negative read noise does not remove photons
    pred = torch.full(shape, -1.0)  # a negative rate adds nothing
    nxt = p.reexpose(noisy, noisy, pred, 1.0, 3.0, torch.tensor([10.0]), torch.tensor([1.0]))
    assert torch.equal(nxt, torch.zeros(shape))
    raw = ExposureProcess(clip_input=False)
    nxt = raw.reexpose(noisy, noisy, pred, 1.0, 3.0, torch.tensor([10.0]), torch.tensor([1.0]))
    torch.testing.assert_close(nxt, noisy / 3)


def test_reexposure_is_seeded():
    p = ExposureProcess()
    x = torch.rand(2, 4, 16, 16)
    args = (
        x,
        x,
        x,
        torch.tensor([1.0, 2.0]),
        torch.tensor([5.0, 9.0]),
        torch.tensor([100.0, 50.0]),
        torch.tensor([1.0, 3.0]),
    )
    a = p.reexpose(*args, generator=gen(11))
    b = p.reexpose(*args, generator=gen(11))
    c = p.reexpose(*args, generator=gen(12))
    assert torch.equal(a, b) and not torch.equal(a, c)


@pytest.mark.parametrize("variant", list(Reexposure))
def test_straight_through_gradient_is_the_mean_gradient(variant):
    p = ExposureProcess(reexposure=variant)
    shape = (2, 4, 8, 8)
    pred = torch.full(shape, 0.5, requires_grad=True)
    state = torch.full(shape, 0.3)
    c_cur, c_next = torch.tensor([2.0, 5.0]), torch.tensor([6.0, 20.0])
    nxt = p.reexpose(
        state,
        state,
        pred,
        c_cur,
        c_next,
        torch.tensor([100.0, 100.0]),
        torch.tensor([1.0, 2.0]),
        generator=gen(),
        straight_through=True,
    )
    nxt.sum().backward()
    c_src = torch.ones(2) if variant is Reexposure.RESAMPLE_INPUT else c_cur
    expected = ((c_next - c_src) / c_next).view(2, 1, 1, 1).expand(shape)
    torch.testing.assert_close(pred.grad, expected)
    # without straight-through the draw blocks gradients
    pred2 = pred.detach().clone().requires_grad_(True)
    nxt2 = p.reexpose(
        state,
        state,
        pred2,
        c_cur,
        c_next,
        torch.tensor([100.0, 100.0]),
        torch.tensor([1.0, 2.0]),
        generator=gen(),
    )
    assert not nxt2.requires_grad


def test_reexpose_validates_shapes_and_order():
    p = ExposureProcess()
    x = torch.rand(1, 4, 4, 4)
    with pytest.raises(
        ValueError, match=r"prediction must be equal .* shapes, got .*\(1, 4, 4, 2\)$"
    ):
        p.reexpose(x, x, x[..., :2], 1.0, 2.0, 10.0, 1.0)
    with pytest.raises(ValueError, match="c_next must not be below the multiple of the photons"):
        ExposureProcess(reexposure="accumulate").reexpose(x, x, x, 3.0, 2.0, 10.0, 1.0)
