"""Every shipped config loads strictly and says what its name says."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import yaml

from expodiff.config import config_from_dict, config_to_dict, load_config
from expodiff.kinds import DatasetKind, EvalProtocol, TrainObjective
from expodiff.noise.model import NoisePreset

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
# The settings of the paper's tables, named noise-backbone-method. (default.yaml is the
# shipped model's own recipe; tests/test_configs_data.py loads its data.)
SHIPPED = {"default"}
TRAIN_CONFIGS = sorted(
    p for p in CONFIGS.glob("*.yaml") if not p.name.startswith("eval-") and p.stem not in SHIPPED
)


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_recipes_are_the_shipped_models_configs(name):
    """configs/NAME.yaml resolves to the config saved with the packaged model NAME (apart from
    the run's name, output folder, device and the inference-only sampler and tile settings)."""
    from expodiff.config import config_to_dict, load_config
    from expodiff.inference.model_loading import packaged_model_path
    from expodiff.io.modelfiles import load_model_config

    ignore = {("name",), ("train", "output_dir"), ("train", "device"), ("train", "num_workers"),
              ("train", "init_from"),
              ("diffusion", "inference_steps"), ("diffusion", "input_consistency_sigma"),
              ("eval", "tile_overlap"),
              ("data", "num_workers")}  # fmt: skip

    def flat(d, prefix=()):
        for k, v in d.items():
            if isinstance(v, dict):
                yield from flat(v, prefix + (k,))
            elif prefix + (k,) not in ignore:
                yield prefix + (k,), v

    recipe = dict(flat(config_to_dict(load_config(CONFIGS / f"{name}.yaml"))))
    shipped = dict(flat(config_to_dict(load_model_config(packaged_model_path(name)))))
    assert {k: (recipe[k], shipped[k]) for k in recipe if recipe[k] != shipped[k]} == {}


@pytest.mark.parametrize(
    "path", sorted((CONFIGS / "candidates").glob("*.yaml")), ids=lambda p: p.stem
)
def test_candidate_configs_load_strictly(path):
    """configs/candidates/ (recipes for a GPU session): strict, round-trips, named as the file."""
    raw = yaml.safe_load(path.read_text())
    cfg = load_config(path)
    assert cfg.name == path.stem and cfg.train.output_dir == f"runs/{path.stem}"
    assert config_from_dict(raw) == cfg == config_from_dict(config_to_dict(cfg))
    assert "Kodak24" not in cfg.data.train_sets + cfg.data.val_sets  # the benchmark set


def test_the_paper_grid_is_complete():
    names = {p.stem for p in TRAIN_CONFIGS}
    grid = {
        f"{n}-{b}-{m}"
        for n, b, m in itertools.product(
            ("pg", "eld", "real"), ("unet", "nafnet1", "nafnet2"), ("ed", "ff")
        )
    }
    assert grid <= names
    assert {"pg-unet-n2n", "eld-unet-n2n"} <= names


@pytest.mark.parametrize("path", TRAIN_CONFIGS, ids=lambda p: p.stem)
def test_train_config_matches_its_name(path):
    raw = yaml.safe_load(path.read_text())
    cfg = load_config(path)
    noise, backbone, method = path.stem.split("-")
    assert cfg.name == path.stem
    assert config_from_dict(raw) == cfg  # strict: no key is unknown or misspelt
    assert config_from_dict(config_to_dict(cfg)) == cfg
    assert cfg.model.preset == backbone
    assert cfg.train.output_dir == f"runs/{path.stem}"
    if noise == "real":
        assert cfg.data.kind is DatasetKind.SID_PAIRED and cfg.data.root is None
        assert "noise" not in raw  # real pairs carry their own noise
    else:
        assert cfg.noise.preset is NoisePreset(noise)
        assert cfg.data.kind is DatasetKind.UNPROCESS
        assert "Kodak24" not in cfg.data.train_sets + cfg.data.val_sets  # the benchmark set
    steps = {"ed": (3, 3), "ff": (1, 1), "n2n": (1, 1)}[method]
    assert (cfg.diffusion.train_steps, cfg.diffusion.inference_steps) == steps
    objective = TrainObjective.NOISE2NOISE if method == "n2n" else TrainObjective.SUPERVISED
    assert cfg.train.objective is objective
    assert cfg.data.batch_size > 1
    assert (cfg.train.lr, cfg.train.lr_halve_at, cfg.train.lr_final_at, cfg.train.lr_final) == (
        1e-4,
        0.5,
        0.9,
        1e-5,
    )


@pytest.mark.parametrize("backbone", ["unet", "nafnet1", "nafnet2"])
def test_config_models_build_at_paper_size(backbone):
    from expodiff.build import build_denoiser
    from expodiff.nets.flops import count_parameters
    from expodiff.nets.registry import PRESETS

    cfg = load_config(CONFIGS / f"pg-{backbone}-ed.yaml")
    n = count_parameters(build_denoiser(cfg.model))
    paper = PRESETS[backbone].paper_params
    assert paper is not None and abs(n - paper) / paper < 0.05


def test_eval_config():
    cfg = load_config(CONFIGS / "eval-sid-synth.yaml")
    assert cfg.eval.protocol is EvalProtocol.SYNTHETIC
    assert cfg.eval.sets == ("Kodak24",) and cfg.noise.preset is NoisePreset.ELD


def test_config_typo_is_reported(tmp_path):
    from expodiff.errors import ConfigError

    bad = tmp_path / "bad.yaml"
    bad.write_text((CONFIGS / "pg-unet-ed.yaml").read_text().replace("iterations:", "iteration:"))
    with pytest.raises(ConfigError, match=r"unknown config key train\.iteration; valid keys"):
        load_config(bad)
    with pytest.raises(ConfigError, match="valid: sid15-crop, sid-full, eld, synthetic"):
        load_config(None, ["eval.protocol=sid"])
    with pytest.raises(ConfigError, match="valid: supervised, noise2noise"):
        load_config(None, ["train.objective=n2n"])
