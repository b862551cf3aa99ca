"""train.init_from: fine-tuning starts from a trained model's weights, strictly checked."""

from __future__ import annotations

import pytest
import torch

from expodiff.build import load_denoiser
from expodiff.cli import main
from expodiff.errors import ConfigError
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


def _staged(images, tmp_path):
    """A stage-1 config file and the argv of a stage-2 run that starts from it."""
    from expodiff.config import dump_config
    from train_helpers import CONFIGS, tiny_sets

    stage1 = tmp_path / "stage1.yaml"
    stage1.write_text(dump_config(tiny("pg-unet-ff", tmp_path / "s1", images, "name=s1")))
    argv = ["train", "--config", str(CONFIGS / "pg-unet-ff.yaml")]
    for s in [*tiny_sets("pg-unet-ff", tmp_path / "s2", images), f"train.init_from={stage1}"]:
        argv += ["--set", s]
    return stage1, argv


def test_a_staged_recipe_trains_its_first_stage_first(images, tmp_path, capsys):
    """init_from naming a config: a dry run trains nothing and says so; a run trains stage 1,
    then stage 2 from stage 1's weights; a second run reuses stage 1's model."""
    stage1, argv = _staged(images, tmp_path)
    assert main([*argv, "--dry-run"]) == 0
    err = capsys.readouterr().err
    assert "would train it first" in err and str(stage1) in err
    assert not (tmp_path / "s1").exists() and not (tmp_path / "s2").exists()

    assert main(argv) == 0
    assert "train it first" in capsys.readouterr().err
    first, _ = load_denoiser(tmp_path / "s1" / "model")
    assert (tmp_path / "s2" / "model" / "config.yaml").is_file()
    log = (tmp_path / "s2" / "config.yaml").read_text()
    assert str(tmp_path / "s1" / "model") in log  # stage 2 records the model it started from

    stamp = (tmp_path / "s1" / "model" / "model.safetensors").stat().st_mtime_ns
    assert main([*argv, "--set", f"train.output_dir={tmp_path / 's2b'}"]) == 0
    assert "using its model" in capsys.readouterr().err
    assert (tmp_path / "s1" / "model" / "model.safetensors").stat().st_mtime_ns == stamp
    again, _ = load_denoiser(tmp_path / "s1" / "model")
    assert not _differs(first, again)


def test_staged_config_errors_are_one_line(images, tmp_path, capsys):
    _, argv = _staged(images, tmp_path)
    missing = tmp_path / "nope.yaml"
    assert main([*argv, "--set", f"train.init_from={missing}"]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no such config file" in err[0] and str(missing) in err[0]
    same = tmp_path / "same.yaml"
    from expodiff.config import dump_config

    same.write_text(dump_config(tiny("pg-unet-ff", tmp_path / "s2", images)))
    assert main([*argv, "--set", f"train.init_from={same}"]) != 0
    assert "this run's own folder" in capsys.readouterr().err


@pytest.mark.parametrize(
    "recipe", ["configs/default.yaml", "configs/candidates/default-global.yaml"]
)
def test_the_default_recipes_dry_run_on_a_fresh_clone(
    recipe, data_dir, tmp_path, capsys, monkeypatch
):
    """Today's default starts from a model folder tracked by git; the previous one (two stages)
    trains its stage 1 first on a clean checkout."""
    import subprocess

    from expodiff.config import load_config
    from train_helpers import CONFIGS

    root = CONFIGS.parent
    monkeypatch.chdir(root)
    init = load_config(recipe).train.init_from
    argv = ["train", "--config", recipe, "--dry-run"]
    argv += ["--set", f"train.output_dir={tmp_path / 'out'}", "--set", "data.num_workers=0"]
    if init.endswith(".yaml"):
        if (root / load_config(init).train.output_dir / "model").exists():
            pytest.skip(f"{init}'s model exists here: not a fresh clone")
        assert main(argv) == 0
        captured = capsys.readouterr()
        assert "would train it first" in captured.err and "dry run of" in captured.out
        return
    tracked = subprocess.run(
        ["git", "ls-files", "--error-unmatch", f"{init}/model.safetensors", f"{init}/config.yaml"],
        cwd=root, capture_output=True, text=True,
    )  # fmt: skip
    if tracked.returncode != 0 and not (root / ".git").exists():
        pytest.skip("not a git checkout")
    assert tracked.returncode == 0, f"{recipe}: train.init_from {init} is not tracked by git"
    assert main(argv) == 0
    assert "dry run of" in capsys.readouterr().out


def test_a_chain_of_three_stages_dry_runs_and_a_loop_is_one_line(images, tmp_path, capsys):
    """init_from configs chain: stage 3 starts from stage 2, which starts from stage 1; a
    config that reaches itself again, or two stages sharing a folder, is a one-line error."""
    from expodiff.config import dump_config

    stage1, argv2 = _staged(images, tmp_path)
    stage2 = tmp_path / "stage2.yaml"
    cfg2 = tiny("pg-unet-ff", tmp_path / "s2", images, "name=s2", f"train.init_from={stage1}")
    stage2.write_text(dump_config(cfg2))
    argv3 = ["train", "--config", str(stage2), "--set", f"train.output_dir={tmp_path / 's3'}"]
    argv3 += ["--set", f"train.init_from={stage2}", "--dry-run"]
    assert main(argv3) == 0
    err = capsys.readouterr().err
    assert "would train it first" in err and str(stage2) in err
    assert not any((tmp_path / d).exists() for d in ("s1", "s2", "s3"))

    loop = tmp_path / "loop.yaml"
    loop.write_text(
        dump_config(tiny("pg-unet-ff", tmp_path / "l", images, f"train.init_from={loop}"))
    )
    argv = ["train", "--config", str(stage2), "--set", f"train.output_dir={tmp_path / 's4'}"]
    assert main([*argv, "--set", f"train.init_from={loop}"]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "loop" in err[0] and str(loop) in err[0]

    clash = tmp_path / "clash.yaml"  # an earlier stage writing where stage 1 writes
    clash.write_text(
        dump_config(tiny("pg-unet-ff", tmp_path / "s1", images, f"train.init_from={stage1}"))
    )
    assert main([*argv, "--set", f"train.init_from={clash}"]) != 0
    assert "give the stages different train.output_dir" in capsys.readouterr().err
