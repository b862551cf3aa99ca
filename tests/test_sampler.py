"""The progressive sampler with oracle and dummy denoisers."""

from __future__ import annotations

import pytest
import torch

from expodiff.build import build_denoiser
from expodiff.config import ModelConfig
from expodiff.diffusion.process import ExposureProcess, Reexposure
from expodiff.diffusion.sampler import SamplerStep, sample, sample_progressive
from expodiff.eval.corrections import illuminance_correction, oracle_correction
from expodiff.nets.denoiser import DenoiserOutput
from torch_helpers import gen


def make_pair(b: int = 2, seed: int = 0):
    g = gen(seed)
    clean = torch.rand(b, 4, 12, 10, generator=g) * 0.8
    r = torch.tensor([100.0, 250.0, 30.0, 7.5][:b])
    k = torch.tensor([1.5, 0.3, 8.0, 2.0][:b])
    lam = clean / r.view(-1, 1, 1, 1) * 15583 / k.view(-1, 1, 1, 1)
    noisy = torch.poisson(lam, generator=g) * (k * r).view(-1, 1, 1, 1) / 15583
    return clean, noisy, r, k


@pytest.mark.parametrize("variant", list(Reexposure))
@pytest.mark.parametrize("steps", [1, 2, 3, 4, 6])
def test_oracle_denoiser_returns_the_reference_exactly(variant, steps):
    clean, noisy, r, k = make_pair()
    process = ExposureProcess(reexposure=variant)

    def oracle(state, photon_level, noisy_):
        return DenoiserOutput(clean)

    out = sample(
        process, oracle, noisy, exposure_ratio=r, system_gain=k, steps=steps, generator=gen()
    )
    assert torch.equal(out, clean)


def test_records_follow_the_schedule_and_are_not_copies():
    clean, noisy, r, k = make_pair()
    process = ExposureProcess()
    seen = []

    def oracle(state, photon_level, noisy_):
        seen.append((state, photon_level, noisy_))
        return clean

    steps = list(
        sample_progressive(
            process, oracle, noisy, exposure_ratio=r, system_gain=k, steps=3, generator=gen()
        )
    )
    sched = process.inference_schedule(r, 3)
    assert [s.index for s in steps] == [0, 1, 2]
    assert all(isinstance(s, SamplerStep) for s in steps)
    assert [s.is_last for s in steps] == [False, False, True]
    for i, s in enumerate(steps):
        assert torch.equal(s.exposure_multiple, sched[:, i])
        assert torch.equal(s.next_multiple, sched[:, i + 1])
        assert torch.equal(s.exposure_ratio, r)
        assert s.state is seen[i][0]  # the record references the network input
        assert seen[i][2] is noisy  # the original input is passed through
        torch.testing.assert_close(seen[i][1], process.photon_level(s.state, sched[:, i], r, k))
    assert steps[0].state is noisy  # c_0 = 1: the input itself


def test_intermediate_states_are_physical_exposures_of_the_prediction():
    """With the oracle, the state at c is (input + (c - 1) * clean photons) / c on average."""
    b = 1
    clean = torch.full((b, 4, 64, 64), 0.5)
    noisy = torch.full((b, 4, 64, 64), 0.2)
    r, k = torch.tensor([100.0]), torch.tensor([1.0])
    steps = list(
        sample_progressive(
            ExposureProcess(),
            lambda s, p, n: clean,
            noisy,
            exposure_ratio=r,
            system_gain=k,
            steps=4,
            generator=gen(),
        )
    )
    for s in steps[1:]:
        c = float(s.exposure_multiple)
        expected = (0.2 + 0.5 * (c - 1)) / c
        assert abs(float(s.state.mean()) - expected) < 2e-3


def test_plain_tensor_denoisers_and_numbers_are_accepted():
    clean, noisy, _, _ = make_pair(1)
    out = sample(
        ExposureProcess(),
        lambda s, p, n: s.clamp(0, 1),
        noisy,
        exposure_ratio=50.0,
        system_gain=2.0,
        steps=2,
        generator=gen(),
    )
    assert out.shape == noisy.shape


def test_sampling_is_deterministic_with_a_seeded_generator():
    clean, noisy, r, k = make_pair()
    torch.manual_seed(0)
    model = build_denoiser(ModelConfig(preset="nafnet1")).eval()
    process = ExposureProcess()
    a = sample(process, model, noisy, exposure_ratio=r, system_gain=k, steps=3, generator=gen(1))
    torch.manual_seed(123)  # global RNG state does not matter
    b = sample(process, model, noisy, exposure_ratio=r, system_gain=k, steps=3, generator=gen(1))
    c = sample(process, model, noisy, exposure_ratio=r, system_gain=k, steps=3, generator=gen(2))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_sample_runs_in_inference_mode():
    clean, noisy, r, k = make_pair()
    model = build_denoiser(ModelConfig(preset="nafnet1"))
    out = sample(ExposureProcess(), model, noisy, exposure_ratio=r, system_gain=k, steps=2)
    assert out.is_inference() and not out.requires_grad
    out = sample(
        ExposureProcess(), model, noisy, exposure_ratio=r, system_gain=k, steps=2, inference=False
    )
    assert out.requires_grad


def test_oracle_illuminance_correction_is_explicit():
    clean, noisy, r, k = make_pair()
    clean[0, 0, 0, 0] = 1.0  # saturated reference pixels are ignored by the fit
    dim = lambda s, p, n: DenoiserOutput(0.5 * clean)  # noqa: E731
    kwargs = dict(exposure_ratio=r, system_gain=k, steps=2, generator=gen())
    plain = sample(ExposureProcess(), dim, noisy, **kwargs)
    torch.testing.assert_close(plain, 0.5 * clean)  # off by default
    fixed = sample(ExposureProcess(), dim, noisy, correct=oracle_correction(clean), **kwargs)
    torch.testing.assert_close(fixed, clean)


def test_illuminance_correction_is_per_sample_least_squares():
    ref = torch.tensor([0.2, 0.4, 1.0, 0.6]).view(1, 1, 2, 2).repeat(2, 1, 1, 1)
    pred = torch.tensor([0.1, 0.3, 0.9, 0.2]).view(1, 1, 2, 2).repeat(2, 1, 1, 1)
    pred[1] *= 0.5
    out = illuminance_correction(pred, ref)
    for i in range(2):
        p = pred[i].flatten()[[0, 1, 3]]
        y = ref[i].flatten()[[0, 1, 3]]
        scale = float((p * y).sum() / (p * p).sum())
        torch.testing.assert_close(out[i], pred[i] * scale)
    zero = illuminance_correction(torch.zeros(1, 1, 2, 2), ref[:1])
    assert torch.equal(zero, torch.zeros(1, 1, 2, 2))


def test_explicit_schedule_and_validation():
    clean, noisy, r, k = make_pair()
    sched = torch.tensor([[1.0, 10.0, 100.0], [1.0, 2.0, 250.0]])
    steps = list(
        sample_progressive(
            ExposureProcess(),
            lambda s, p, n: clean,
            noisy,
            exposure_ratio=r,
            system_gain=k,
            schedule=sched,
        )
    )
    assert len(steps) == 2 and torch.equal(steps[1].exposure_multiple, sched[:, 1])
    with pytest.raises(
        ValueError, match=r"schedule must be \(B, S \+ 1\) with S >= 1, got \(2, 1\)"
    ):
        list(
            sample_progressive(
                ExposureProcess(),
                lambda s, p, n: clean,
                noisy,
                exposure_ratio=r,
                system_gain=k,
                schedule=sched[:, :1],
            )
        )
    with pytest.raises(ValueError, match=r"system_gain must be finite and > 0, got \[1.0, 0.0\]"):
        sample(
            ExposureProcess(),
            lambda s, p, n: clean,
            noisy,
            exposure_ratio=r,
            system_gain=torch.tensor([1.0, 0.0]),
        )
    with pytest.raises(
        ValueError, match=r"exposure_ratio must be finite and >= 1, got \[0.5, 2.0\]"
    ):
        sample(
            ExposureProcess(),
            lambda s, p, n: clean,
            noisy,
            exposure_ratio=torch.tensor([0.5, 2.0]),
            system_gain=k,
        )
    with pytest.raises(ValueError, match=r"noisy must be \(B, C, H, W\), got \(4, 12, 10\)"):
        sample(ExposureProcess(), lambda s, p, n: clean, noisy[0], exposure_ratio=r, system_gain=k)
