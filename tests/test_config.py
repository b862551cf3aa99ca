from pathlib import Path

import pytest

from expodiff.cli import main
from expodiff.config import (
    ExperimentConfig,
    config_from_dict,
    config_to_dict,
    dump_config,
    load_config,
)
from expodiff.errors import ConfigError
from expodiff.nets.denoiser import Prediction
from expodiff.noise.model import NoisePreset


def test_defaults_round_trip():
    cfg = ExperimentConfig()
    again = config_from_dict(config_to_dict(cfg))
    assert again == cfg


def test_yaml_and_overrides(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text(
        "name: t\nnoise: {preset: eld, ratio_range: [20, 300]}\nmodel: {preset: nafnet1}\n"
    )
    cfg = load_config(path, ["train.lr=2e-4", "model.prediction=direct", "data.train_sets=[A]"])
    assert cfg.noise.preset is NoisePreset.ELD
    assert cfg.noise.ratio_range == (20.0, 300.0)
    assert cfg.train.lr == 2e-4
    assert cfg.model.prediction is Prediction.DIRECT
    assert cfg.data.train_sets == ("A",)
    assert load_config(None, []) == ExperimentConfig()
    assert config_from_dict(__import__("yaml").safe_load(dump_config(cfg))) == cfg


def test_unknown_key_lists_valid_ones(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text("train: {lr: 1e-4, iteratons: 5}\n")
    with pytest.raises(ConfigError, match=r"train\.iteratons.*valid keys of train: iterations"):
        load_config(path)
    with pytest.raises(ConfigError, match="unknown config key bogus"):
        load_config(None, ["bogus=1"])


def test_bad_values():
    with pytest.raises(ConfigError, match="valid: pg, eld"):
        load_config(None, ["noise.preset=elf"])
    with pytest.raises(ConfigError, match="integer"):
        load_config(None, ["train.iterations=1.5"])
    with pytest.raises(ConfigError, match="2 values"):
        load_config(None, ["noise.ratio_range=[1,2,3]"])
    with pytest.raises(ConfigError, match="not found"):
        load_config("/nonexistent/x.yaml")
    with pytest.raises(ConfigError, match="key.sub=value"):
        load_config(None, ["train.lr"])


def test_show_config_cli(capsys, tmp_path):
    assert main(["show-config", "--set", "train.lr=0.5"]) == 0
    assert "lr: 0.5" in capsys.readouterr().out
    assert main(["show-config", "--set", "train.nope=1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("expodiff: error:") and err.count("\n") == 1


# ------------------------------------------------------------------ bounds of every number
def _numeric_fields(cls):
    """``(class, field name)`` of every int/float field (alone, optional or in a tuple) of
    ``cls`` and the config dataclasses nested in it."""
    import dataclasses
    import typing

    found = []
    for f in dataclasses.fields(cls):
        tp = typing.get_type_hints(cls)[f.name]
        if dataclasses.is_dataclass(tp):
            found += _numeric_fields(tp)
            continue
        parts = {tp, *typing.get_args(tp)}
        parts |= {a for p in parts for a in typing.get_args(p)}
        if parts & {int, float}:
            found.append((cls, f.name))
    return found


def test_every_number_of_a_config_has_a_bound():
    from benchmarks.paper.bench_config import BenchConfig

    from expodiff.config.bounds import bound_of

    fields = _numeric_fields(ExperimentConfig) + _numeric_fields(BenchConfig)
    assert len(fields) > 50
    missing = [f"{cls.__name__}.{name}" for cls, name in fields if bound_of(cls, name) is None]
    assert missing == []


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.lr=.inf", "train.lr must be a finite number, got inf"),
        ("train.lr=.nan", "train.lr must be a finite number, got nan"),
        ("train.lr=-1e-4", "train.lr must be > 0, got -0.0001"),
        ("train.lr_final=0", "train.lr_final must be > 0, got 0.0"),
        ("train.adam_betas=[0.9,1.0]", r"train.adam_betas must be in \[0, 1\), got 1.0"),
        ("train.weight_decay=-1", "train.weight_decay must be >= 0"),
        ("train.grad_clip=.inf", "train.grad_clip must be a finite number"),
        ("train.iterations=.inf", "train.iterations: expected an integer, got inf"),
        ("train.seed=-1", "train.seed must be in"),
        ("train.seed=18446744073709551616", r"train.seed must be in \[0, 18446744073709551615\]"),
        ("eval.ratios=[100,.inf]", "eval.ratios must be a finite number, got inf"),
        ("eval.tile_overlap=-1", "eval.tile_overlap must be >= 0"),
        ("noise.gain_range=[0.1,.inf]", "noise.gain_range must be a finite number"),
        ("noise.full_scale_dn=1e400", "noise.full_scale_dn must be a finite number"),
        ("data.val_ratios=[0.5]", "data.val_ratios must be >= 1, got 0.5"),
        ("data.wb_jitter=.inf", "data.wb_jitter must be a finite number"),
        ("diffusion.aux_weight=-1", "diffusion.aux_weight must be >= 0"),
        ("diffusion.step_weights=[1,.nan]", "diffusion.step_weights must be a finite number"),
        ("model.width=0", "model.width must be >= 1, got 0"),
        ("diffusion.steps_by_signal=[[.inf,3],[0,1]]", "diffusion.steps_by_signal must be a fin"),
    ],
)
def test_bad_numbers_name_their_key(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, [override])


CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def test_train_with_an_infinite_learning_rate_is_one_line(capsys):
    config = CONFIGS / "pg-unet-ed.yaml"
    code = main(["train", "--config", str(config), "--set", "train.lr=.inf"])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err == f"expodiff: error: {config}: train.lr must be a finite number, got inf\n"


def test_benchmark_config_numbers_are_bounded(capsys):
    from benchmarks.paper.bench_config import load_bench_config

    for override, message in [
        ("budget.lr=.inf", "budget.lr must be a finite number"),
        ("budget.seed=-3", "budget.seed must be in"),
        ("eval.highlight_fraction=1", r"eval.highlight_fraction must be in \(0, 1\)"),
        ("speed.timeout_s=.inf", "speed.timeout_s must be a finite number"),
    ]:
        with pytest.raises(ConfigError, match=message):
            load_bench_config(CONFIGS / "bench" / "quick.yaml", [override])
    from benchmarks.paper.__main__ import main as benchmark

    code = benchmark(["--quick", "--set", "budget.lr=.nan"])
    assert code == 2
    assert capsys.readouterr().err.endswith("budget.lr must be a finite number, got nan\n")
