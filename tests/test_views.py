"""Geometric self-ensemble (``--views``): dihedral views averaged in every network evaluation.

The transforms are permutations (compared exactly); averages of floats are compared with the
dtype tolerances of :mod:`torch_helpers`. CPU pinned: the views do not depend on the device.
"""

from __future__ import annotations

import pytest
import torch

from enhance_helpers import TEST_CONFIG, save_tiny_model, small_dark_dng
from expodiff.cli import main
from expodiff.config.schema import DiffusionConfig
from expodiff.diffusion.process import ExposureProcess
from expodiff.errors import ExpodiffError
from expodiff.inference.api import enhance
from expodiff.inference.model_loading import load_model
from expodiff.inference.trajectories import denoise_frame, tiled
from expodiff.nets.views import ALLOWED_VIEWS, VIEW_ORDER, DihedralViews, from_view, to_view
from torch_helpers import assert_close_across_paths


def _noisy(h: int = 40, w: int = 56) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    return torch.rand(1, 4, h, w, generator=g) * 0.5 + 0.1


def _pointwise(state, photon_level, noisy):
    return (0.6 * state + 0.3 * noisy + 0.01 * photon_level).clamp(0.0, 1.0)


def _ramp(state, photon_level, noisy):  # noqa: ARG001
    """Not equivariant: the column index (0 .. W-1) in every pixel."""
    w = state.shape[-1]
    return torch.arange(w, dtype=torch.float32).expand_as(state).clone()


def test_the_eight_views_are_distinct_and_each_is_undone_exactly():
    x = _noisy(6, 10)
    seen = set()
    for view in VIEW_ORDER:
        v = to_view(x, view)
        assert torch.equal(from_view(v, view), x)
        seen.add(tuple(v.contiguous().flatten().tolist()))
    assert len(VIEW_ORDER) == 8 and len(seen) == 8
    assert VIEW_ORDER[0] == (False, False, False)  # views=1 is the plain network


@pytest.mark.parametrize("views", ALLOWED_VIEWS)
def test_an_equivariant_denoiser_is_unchanged_by_any_number_of_views(views):
    state, noisy = _noisy(), _noisy() * 0.9
    level = state * 3.0
    out = DihedralViews(_pointwise, views)(state, level, noisy)
    assert out.shape == state.shape and out.dtype == torch.float32
    assert_close_across_paths(out, _pointwise(state, level, noisy))


def test_views_average_the_predictions_mapped_back():
    state = _noisy()
    w = state.shape[-1]
    # identity + horizontal flip: column j averages j and (w - 1 - j)
    two = DihedralViews(_ramp, 2)(state, None, state)
    assert torch.equal(two, torch.full_like(state, (w - 1) / 2))
    # four views on a square input: the flips alone symmetrise the columns
    square = _noisy(32, 32)
    four = DihedralViews(_ramp, 4)(square, None, square)
    assert torch.equal(four, torch.full_like(square, 15.5))
    # eight views: half of them transpose, so rows and columns are averaged alike
    eight = DihedralViews(_ramp, 8)(square, None, square)
    assert torch.equal(eight, eight.transpose(-2, -1))


@pytest.mark.parametrize("views", [0, 3, 5, 16])
def test_other_numbers_of_views_are_refused(views):
    with pytest.raises(ValueError, match="views must be one of"):
        DihedralViews(_pointwise, views)


@pytest.mark.parametrize(("tile", "views"), [(64, 2), (64, 8), (0, 4)])
def test_progress_counts_every_tile_of_every_view(tile, views):
    noisy = _noisy(96, 160) * 50
    calls: list[tuple[int, int]] = []
    denoise_frame(
        _pointwise, ExposureProcess(), noisy, exposure_ratio=50.0, system_gain=2.0, steps=2,
        samples=1, views=views, seed=0, tile=tile, progress=lambda d, t: calls.append((d, t)),
    )  # fmt: skip
    if tile:
        net = tiled(_pointwise, noisy.shape, tile)
        per_step = sum(net.tiles(*to_view(noisy, v).shape[-2:]) for v in VIEW_ORDER[:views])
    else:
        per_step = 1
    total = 2 * per_step
    assert calls == [(i, total) for i in range(1, total + 1)]


def test_a_non_square_tiled_frame_gives_the_views_of_the_untiled_one():
    """Each view, transposed ones included, is tiled on its own; a pointwise network gives
    the same frame tiled or not."""
    noisy = _noisy(96, 160) * 50
    kwargs = dict(exposure_ratio=50.0, system_gain=2.0, steps=1, seed=0, views=8)
    tiled_mean, _ = denoise_frame(_pointwise, ExposureProcess(), noisy, tile=64, **kwargs)
    whole, _ = denoise_frame(_pointwise, ExposureProcess(), noisy, tile=0, **kwargs)
    assert_close_across_paths(tiled_mean, whole)


@pytest.mark.parametrize(
    ("budget", "expected"),
    [(None, {1: 1, 2: 1, 3: 1}), (4, {1: 4, 2: 2, 3: 1, 5: 1}), (8, {1: 8, 2: 4, 3: 2, 4: 2})],
)
def test_the_model_rule_spends_its_evaluation_budget_on_views(budget, expected):
    config = DiffusionConfig(inference_evaluations=budget)
    assert {s: config.views_for_steps(s) for s in expected} == expected


def test_enhance_reports_the_views_and_uses_the_models_rule():
    from dataclasses import replace

    clean = _noisy()[0]
    config = replace(TEST_CONFIG, diffusion=replace(TEST_CONFIG.diffusion, inference_evaluations=4))
    model = load_model(_pointwise, config=config, device="cpu")
    dark = clean / 50
    by_rule = enhance(dark, ratio=50, system_gain=2.0, model=model, steps=1, seed=0)
    assert by_rule.views == 4 and "x 4 views" in by_rule.summary()
    two_steps = enhance(dark, ratio=50, system_gain=2.0, model=model, steps=2, seed=0)
    assert two_steps.views == 2
    given = enhance(dark, ratio=50, system_gain=2.0, model=model, steps=1, views=1, seed=0)
    assert given.views == 1 and "views" not in given.summary()
    assert_close_across_paths(by_rule.raw_norm, given.raw_norm)  # equivariant network


@pytest.mark.parametrize("views", [0, 3, True, 2.5])
def test_the_api_refuses_other_views(views):
    with pytest.raises(ExpodiffError, match=r"^views must be one of 1, 2, 4, 8"):
        enhance(_noisy()[0] / 50, ratio=50, system_gain=2.0, model=_pointwise, views=views)


def test_the_cli_refuses_other_views_in_one_line(tmp_path, capsys):
    out = tmp_path / "x.png"
    with pytest.raises(SystemExit, match="^2$"):
        main(["enhance", str(tmp_path / "in.dng"), "-o", str(out), "--views", "3"])
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("expodiff enhance: error: argument --views") and "got 3" in last
    assert not out.exists()


@pytest.mark.slow
def test_cli_views_run_through_a_real_model(tmp_path, capsys):
    model = save_tiny_model(tmp_path / "model")
    dark = small_dark_dng(tmp_path / "dark.dng")
    out = tmp_path / "out.png"
    code = main(["enhance", str(dark), "-o", str(out), "--model", str(model), "--views", "2",
                 "--steps", "1"])  # fmt: skip
    assert code == 0 and out.is_file()
    assert "1 step x 2 views" in capsys.readouterr().out
