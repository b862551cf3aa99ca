"""scripts/ship_model.py: the recipe shipped with a checkpoint of an unfinished run."""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path

import pytest
import torch

from expodiff.config import ExperimentConfig, TrainConfig
from expodiff.errors import ExpodiffError
from expodiff.train.schedule import learning_rate

ROOT = Path(__file__).resolve().parents[1]


def _ship_model():
    spec = importlib.util.spec_from_file_location("ship_model", ROOT / "scripts" / "ship_model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _rates(t: TrainConfig, steps: int) -> list[float]:
    kw = {"lr": t.lr, "halve_at": t.lr_halve_at, "final_at": t.lr_final_at, "final": t.lr_final}
    return [learning_rate(i, t.iterations, **kw) for i in range(steps)]


@pytest.mark.parametrize("step", [1, 499, 500, 501, 777, 899, 900, 901, 999, 1000])
def test_a_checkpoint_ships_the_recipe_that_stops_at_its_step(step):
    run = ExperimentConfig(train=TrainConfig(iterations=1000, lr=2e-4, lr_final=1e-6))
    recipe = _ship_model().recipe_at_step(run, step)
    assert recipe.train.iterations == step
    assert _rates(recipe.train, step) == _rates(run.train, step)
    assert len(set(_rates(recipe.train, step))) == 1 + (step > 500) + (step > 900)
    # nothing but the schedule changes
    assert dataclasses.replace(
        recipe.train, iterations=1000, lr_halve_at=0.5, lr_final_at=0.9
    ) == run.train and recipe.model == run.model  # fmt: skip


def test_a_step_outside_the_run_is_refused():
    run = ExperimentConfig(train=TrainConfig(iterations=100))
    with pytest.raises(ExpodiffError, match="step 101 is outside the run's 1..100"):
        _ship_model().recipe_at_step(run, 101)


def _folder(tmp_path, name, seed):
    from expodiff.build import build_denoiser
    from expodiff.config import load_config
    from expodiff.io.modelfiles import save_denoiser

    config = load_config(None, ["model.preset=nafnet-s", "model.width=4"])
    torch.manual_seed(seed)
    net = build_denoiser(config.model)
    for p in net.parameters():
        p.data.normal_(0.0, 0.1)
    return save_denoiser(tmp_path / name, net, config), net


def test_average_ships_the_mean_of_the_weights_in_fp16(tmp_path):
    from expodiff.build import load_denoiser

    a, net_a = _folder(tmp_path, "a", 0)
    b, net_b = _folder(tmp_path, "b", 1)
    out = tmp_path / "out"
    assert _ship_model().main([str(a), "--average", str(b), "--dest", str(out)]) == 0
    shipped, _ = load_denoiser(out)
    sb = net_b.state_dict()
    for k, v in net_a.state_dict().items():
        want = ((v.double() + sb[k].double()) / 2).to(torch.float16).float()
        assert torch.equal(shipped.state_dict()[k], want), k
    # an existing model is never replaced without --overwrite
    assert _ship_model().main([str(a), "--dest", str(out)]) == 1


def test_average_refuses_another_network(tmp_path, capsys):
    from expodiff.build import build_denoiser
    from expodiff.config import load_config
    from expodiff.io.modelfiles import save_denoiser

    a, _ = _folder(tmp_path, "a", 0)
    config = load_config(None, ["model.preset=nafnet-s", "model.width=8"])
    other = save_denoiser(tmp_path / "wide", build_denoiser(config.model), config)
    assert _ship_model().main([str(a), "--average", str(other), "--dest", str(tmp_path / "o")]) == 1
    assert "another network" in capsys.readouterr().err
