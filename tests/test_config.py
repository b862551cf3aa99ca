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
