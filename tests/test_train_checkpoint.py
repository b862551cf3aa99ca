"""Checkpoints (atomic, pickle-free, exact) and trained-model files (strict loading)."""

import random

import numpy as np
import pytest
import torch

from expodiff.build import load_denoiser
from expodiff.config import ExperimentConfig, ModelConfig, dump_config
from expodiff.errors import ModelError
from expodiff.io.modelfiles import load_model_config, save_denoiser
from expodiff.train.checkpoint import (
    TrainerState,
    capture_rng,
    find_latest_checkpoint,
    load_checkpoint,
    optimizer_from_flat,
    optimizer_to_flat,
    restore_rng,
    save_checkpoint,
)

TINY = ModelConfig(preset="unet-slim", width=4, depth=2)


def _cfg(**model):
    return ExperimentConfig(name="tiny", model=ModelConfig(**{**TINY.__dict__, **model}))


def _trained_optimizer():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, betas=(0.8, 0.99))
    for _ in range(3):
        opt.zero_grad()
        net(torch.randn(5, 3)).pow(2).sum().backward()
        opt.step()
    return net, opt


def test_optimizer_state_round_trips_exactly():
    net, opt = _trained_optimizer()
    tensors, meta = optimizer_to_flat(opt)
    net2 = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))
    net2.load_state_dict(net.state_dict())
    opt2 = torch.optim.Adam(net2.parameters(), lr=5.0)
    optimizer_from_flat(opt2, tensors, meta)
    assert opt2.param_groups[0]["lr"] == 1e-3 and opt2.param_groups[0]["betas"] == (0.8, 0.99)
    x = torch.randn(5, 3)
    for o, n in ((opt, net), (opt2, net2)):
        o.zero_grad()
        n(x).pow(2).sum().backward()
        o.step()
    for a, b in zip(net.parameters(), net2.parameters(), strict=True):
        assert torch.equal(a, b)
    with pytest.raises(ModelError, match="optimiser is SGD"):
        optimizer_from_flat(opt2, tensors, {**meta, "class": "SGD"})


def test_rng_states_round_trip():
    g = torch.Generator().manual_seed(5)
    state = capture_rng(g)
    expected = (torch.rand(3), random.random(), np.random.rand(), torch.rand(2, generator=g))
    torch.manual_seed(123)
    random.seed(1)
    np.random.seed(2)
    g.manual_seed(99)
    restore_rng(state, g)
    got = (torch.rand(3), random.random(), np.random.rand(), torch.rand(2, generator=g))
    assert torch.equal(got[0], expected[0]) and got[1] == expected[1]
    assert got[2] == expected[2] and torch.equal(got[3], expected[3])


def _save(tmp_path, step, keep=2):
    net, opt = _trained_optimizer()
    tensors, meta = optimizer_to_flat(opt)
    state = TrainerState(step, tensors, meta, [capture_rng(torch.Generator().manual_seed(1))])
    return net, save_checkpoint(
        tmp_path, model_state=net.state_dict(), config_yaml="name: x\n", state=state, keep=keep
    )


def test_checkpoint_files_latest_pointer_and_pruning(tmp_path):
    for step in (10, 20, 30):
        net, path = _save(tmp_path, step)
    root = tmp_path / "checkpoints"
    assert sorted(p.name for p in root.iterdir()) == ["latest", "step_00000020", "step_00000030"]
    assert find_latest_checkpoint(tmp_path) == path
    weights, config_yaml, state = load_checkpoint(path)
    assert state.step == 30 and config_yaml == "name: x\n"
    assert all(torch.equal(weights[k], v) for k, v in net.state_dict().items())
    assert sorted(p.name for p in path.iterdir()) == [
        "config.yaml",
        "model.safetensors",
        "trainer.json",
        "trainer.safetensors",
    ]
    # a stale pointer falls back to the newest complete checkpoint
    (root / "latest").write_text("step_99999999\n")
    assert find_latest_checkpoint(tmp_path) == path


def test_corrupt_or_incomplete_checkpoint_is_a_model_error(tmp_path):
    _, path = _save(tmp_path, 5)
    (path / "trainer.safetensors").write_bytes(b"garbage")
    with pytest.raises(ModelError, match="corrupt"):
        load_checkpoint(path)
    (path / "trainer.json").unlink()
    with pytest.raises(ModelError, match="missing trainer.json"):
        load_checkpoint(path)


def test_model_folder_round_trip(tmp_path):
    from expodiff.build import build_denoiser

    cfg = _cfg()
    torch.manual_seed(3)
    net = build_denoiser(cfg.model)
    save_denoiser(tmp_path / "m", net, cfg)
    loaded, cfg2 = load_denoiser(tmp_path / "m")
    assert cfg2 == cfg and not loaded.training
    for (k, a), (_, b) in zip(net.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert torch.equal(a, b), k
    # the weights file path works too, with config.yaml beside it
    assert load_model_config(tmp_path / "m" / "model.safetensors") == cfg


def test_model_loading_is_strict(tmp_path):
    from expodiff.build import build_denoiser

    cfg = _cfg()
    save_denoiser(tmp_path / "m", build_denoiser(cfg.model), cfg)
    # a config that builds another network
    (tmp_path / "m" / "config.yaml").write_text(dump_config(_cfg(width=8)))
    with pytest.raises(ModelError, match="do not match the model config.*shape mismatch"):
        load_denoiser(tmp_path / "m")
    (tmp_path / "m" / "config.yaml").write_text(dump_config(_cfg(prediction="direct")))
    with pytest.raises(ModelError, match="do not match"):
        load_denoiser(tmp_path / "m")
    (tmp_path / "m" / "config.yaml").write_text(dump_config(cfg))
    data = (tmp_path / "m" / "model.safetensors").read_bytes()
    (tmp_path / "m" / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError, match="corrupt weights"):
        load_denoiser(tmp_path / "m")
    (tmp_path / "m" / "config.yaml").write_text("model: {preset: unet, widht: 3}\n")
    with pytest.raises(ModelError, match="invalid model config.*widht"):
        load_denoiser(tmp_path / "m")
    with pytest.raises(ModelError, match="not found"):
        load_denoiser(tmp_path / "nothing")
