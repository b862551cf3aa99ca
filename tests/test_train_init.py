"""train.init_from: fine-tuning starts from a trained model's weights, strictly checked."""

from __future__ import annotations

import pytest
import torch

from expodiff.cli import main
from expodiff.errors import ConfigError
from expodiff.io.modelfiles import load_denoiser
from expodiff.train.loop import Trainer
from train_helpers import make_images, tiny


@pytest.fixture(scope="module")
def images(tmp_path_factory, data_dir):  # noqa: ARG001 (unprocess needs sid_meta)
    return make_images(tmp_path_factory.mktemp("clean"))


@pytest.fixture(scope="module")
def trained(images, tmp_path_factory):
    out = tmp_path_factory.mktemp("source")
    Trainer(tiny("pg-unet-ff", out, images, "train.iterations=2")).run()
    return out / "model"


def _state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _differs(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    pairs = zip(a.state_dict().values(), b.state_dict().values(), strict=True)
    return any(not torch.equal(x, y) for x, y in pairs)


def test_init_from_loads_the_weights_before_the_first_step(images, trained, tmp_path):
    source, _ = load_denoiser(trained)
    trainer = Trainer(tiny("pg-unet-ff", tmp_path / "ft", images, f"train.init_from={trained}"))
    for (k, x), y in zip(_state(trainer.model).items(), source.state_dict().values(), strict=True):
        assert torch.equal(x, y), k
    fresh = Trainer(tiny("pg-unet-ff", tmp_path / "fresh", images))
    assert _differs(fresh.model, source)


def test_resume_ignores_init_from(images, trained, tmp_path):
    """A resumed fine-tune continues from its checkpoint, not from init_from again."""
    out = tmp_path / "ft"
    sets = (f"train.init_from={trained}", "train.iterations=4")
    Trainer(tiny("pg-unet-ff", out, images, *sets)).run(stop_after=2)
    resumed = Trainer(tiny("pg-unet-ff", out, images, *sets), resume=True)
    source, _ = load_denoiser(trained)
    assert resumed.start_step == 2
    assert _differs(resumed.model, source)


def test_init_from_a_different_network_is_a_one_line_error(images, trained, tmp_path):
    sets = ("model.width=8", f"train.init_from={trained}")
    cfg = tiny("pg-unet-ff", tmp_path / "wide", images, *sets)
    with pytest.raises(ConfigError, match=r"train.init_from .*do not match.*shape mismatches"):
        Trainer(cfg)


def test_init_from_a_missing_model_through_the_cli(images, tmp_path, capsys):
    from train_helpers import CONFIGS, tiny_sets

    missing = tmp_path / "nothing-here"
    argv = ["train", "--config", str(CONFIGS / "pg-unet-ff.yaml")]
    for s in [*tiny_sets("pg-unet-ff", tmp_path / "run", images), f"train.init_from={missing}"]:
        argv += ["--set", s]
    assert main(argv) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(missing) in err[0] and "not found" in err[0]
    assert not (tmp_path / "run" / "model").exists()
