"""Models for ``expodiff enhance``: the packaged default, model folders, fp16, bad files."""

from __future__ import annotations

import pytest
import torch
import yaml

from enhance_helpers import TEST_CONFIG, save_tiny_model
from expodiff.build import build_denoiser, load_denoiser
from expodiff.config import ExperimentConfig, ModelConfig, NoiseConfig
from expodiff.errors import ModelError
from expodiff.inference.model_loading import (
    EnhanceModel,
    default_model_path,
    load_model,
    packaged_model_path,
    trained_gain_range,
)
from expodiff.io.modelfiles import CONFIG_FILE, MODEL_FILE, save_denoiser
from expodiff.noise.model import GainSampling


def test_model_folder_loads_for_inference(tmp_path):
    model = load_model(save_tiny_model(tmp_path / "m"), device="cpu")
    assert isinstance(model, EnhanceModel) and model.path == tmp_path / "m"
    assert model.channels == 4 and model.inference_steps == 3
    assert model.full_scale_dn == 15583.0 and model.ratio_range == (1.0, 300.0)
    assert model.gain_range == (0.1, 30.0)
    assert not model.denoiser.training
    assert all(not p.requires_grad for p in model.denoiser.parameters())
    assert load_model(model) is model


def test_fp16_weights_load_as_fp32(tmp_path):
    torch.manual_seed(0)
    net = build_denoiser(TEST_CONFIG.model)
    save_denoiser(tmp_path / "half", net, TEST_CONFIG, dtype=torch.float16)
    save_denoiser(tmp_path / "full", net, TEST_CONFIG)
    half = (tmp_path / "half" / MODEL_FILE).stat().st_size
    full = (tmp_path / "full" / MODEL_FILE).stat().st_size
    assert half < 0.6 * full
    loaded, _ = load_denoiser(tmp_path / "half")
    for name, value in loaded.state_dict().items():
        assert value.dtype == torch.float32
        assert torch.equal(value, net.state_dict()[name].half().float())


def test_corrupt_and_mismatched_models_are_one_line_errors(tmp_path):
    folder = save_tiny_model(tmp_path / "m")
    weights = folder / MODEL_FILE
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError, match="corrupt weights file"):
        load_model(folder, device="cpu")
    save_tiny_model(folder)
    config = yaml.safe_load((folder / CONFIG_FILE).read_text())
    config["model"]["preset"] = "unet-slim"
    (folder / CONFIG_FILE).write_text(yaml.safe_dump(config))
    with pytest.raises(ModelError, match="weights do not match the model config"):
        load_model(folder, device="cpu")
    with pytest.raises(ModelError, match="model not found"):
        load_model(tmp_path / "nothing", device="cpu")


def test_default_model_location():
    folder = packaged_model_path()
    assert folder.name == "default" and folder.parent.name == "models"
    if default_model_path() is None:
        with pytest.raises(ModelError, match="no default model yet; pass a trained model"):
            load_model(None, device="cpu")
    else:
        assert (default_model_path() / MODEL_FILE).is_file()


def test_trained_gain_range_follows_the_config():
    assert trained_gain_range(ExperimentConfig()) == (0.1, 30.0)
    cameras = NoiseConfig(gain_sampling=GainSampling.CAMERA_RANGE, cameras=("SonyA7S2",))
    lo, hi = trained_gain_range(ExperimentConfig(noise=cameras, model=ModelConfig()))
    assert lo == pytest.approx(0.0939, rel=1e-3) and hi == pytest.approx(6.0106, rel=1e-3)
