"""train.ema_decay: the moving average of the weights, its checkpoint and its resume."""

from __future__ import annotations

import pytest
import torch

from expodiff.build import load_denoiser
from expodiff.config import load_config
from expodiff.errors import ConfigError
from expodiff.train.checkpoint import find_latest_checkpoint, load_checkpoint
from expodiff.train.ema import WeightAverage
from expodiff.train.loop import Trainer
from train_helpers import make_images, tiny


@pytest.fixture(scope="module")
def images(tmp_path_factory, data_dir):  # noqa: ARG001 (unprocess needs sid_meta)
    return make_images(tmp_path_factory.mktemp("clean"))


def test_the_average_follows_the_warm_up_then_the_decay():
    net = torch.nn.Linear(2, 1)
    with torch.no_grad():
        net.weight.fill_(1.0)
    avg = WeightAverage(net, decay=0.5)
    values = [1.0]
    for w in (3.0, 5.0, 7.0):
        with torch.no_grad():
            net.weight.fill_(w)
        d = min(0.5, (1 + len(values) - 1) / (10 + len(values) - 1))  # 0.1, 0.1818.., 0.25
        values.append(d * values[-1] + (1 - d) * w)
        avg.update(net)
    assert avg.updates == 3
    assert torch.allclose(avg.average["weight"], torch.full((1, 2), values[-1]))
    # applied() swaps the average in and the model's own weights back
    with avg.applied(net) as swapped:
        assert swapped is net and torch.allclose(net.weight, torch.full((1, 2), values[-1]))
    assert torch.equal(net.weight, torch.full((1, 2), 7.0))
    with pytest.raises(ValueError, match="decay must be in"):
        WeightAverage(net, decay=1.0)


def test_the_config_option_is_checked():
    assert load_config(None).train.ema_decay is None
    assert load_config(None, ["train.ema_decay=0.999"]).train.ema_decay == 0.999
    for bad in ("0", "1", "1.5"):
        with pytest.raises(ConfigError, match="ema_decay"):
            load_config(None, [f"train.ema_decay={bad}"])


def _weights(folder):
    model, _ = load_denoiser(folder)
    return model.state_dict()


@pytest.mark.slow
def test_the_model_is_the_average_and_a_resume_continues_it(images, tmp_path):
    """model/ holds the average (not the last weights); 2 steps + resume + 2 gives the same
    average as 4 straight; a checkpoint keeps both."""
    ema = ["train.iterations=4", "train.ema_decay=0.9"]
    straight = Trainer(tiny("pg-nafnet2-ed", tmp_path / "a", images, *ema)).run()
    last = load_checkpoint(find_latest_checkpoint(tmp_path / "a"))
    weights, _, state = last
    model = _weights(tmp_path / "a" / "model")
    assert set(state.ema_tensors) <= set(weights) and state.extra["ema_updates"] == 4
    for k, v in state.ema_tensors.items():
        assert torch.equal(model[k], v), k
    assert any(not torch.equal(model[k], weights[k]) for k in state.ema_tensors)
    assert straight.step == 4

    Trainer(tiny("pg-nafnet2-ed", tmp_path / "b", images, *ema)).run(stop_after=2)
    resumed = Trainer(tiny("pg-nafnet2-ed", tmp_path / "b", images, *ema), resume=True).run()
    assert resumed.weights_digest == straight.weights_digest
    other = _weights(tmp_path / "b" / "model")
    for k, v in model.items():
        assert torch.equal(v, other[k]), k


@pytest.mark.slow
def test_a_run_without_an_average_may_gain_one_on_resume(images, tmp_path):
    Trainer(tiny("pg-nafnet2-ed", tmp_path / "c", images)).run(stop_after=2)
    sets = ["train.ema_decay=0.9"]
    with pytest.warns(UserWarning, match="has no average of the weights"):
        trainer = Trainer(tiny("pg-nafnet2-ed", tmp_path / "c", images, *sets), resume=True)
    trainer.run()
    _, _, state = load_checkpoint(find_latest_checkpoint(tmp_path / "c"))
    assert state.extra["ema_updates"] == 2


@pytest.mark.slow
def test_ship_model_takes_a_checkpoints_average(images, tmp_path):
    import importlib.util
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "scripts" / "ship_model.py"
    spec = importlib.util.spec_from_file_location("ship_model", script)
    ship = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ship)
    sets = ["train.iterations=6", "train.ema_decay=0.9", "train.checkpoint_every=2"]
    Trainer(tiny("pg-nafnet2-ed", tmp_path / "r", images, *sets)).run(stop_after=4)
    checkpoint = find_latest_checkpoint(tmp_path / "r")
    _, _, state = load_checkpoint(checkpoint)
    assert ship.main([str(checkpoint), "--dest", str(tmp_path / "out")]) == 0
    shipped, config = load_denoiser(tmp_path / "out")
    for k, v in state.ema_tensors.items():
        assert torch.equal(shipped.state_dict()[k], v.to(torch.float16).float()), k
    assert config.train.iterations == 4 and config.train.ema_decay == 0.9
