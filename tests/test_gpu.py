"""CUDA runs (marked ``gpu``: skipped with the reason on a machine without CUDA).

Every other test runs on the CPU (tests/conftest.py); these run the same paths on the GPU:
``expodiff.enhance`` and ``expodiff enhance --device auto``, and a few training steps with a
DataLoader worker. They compare with the CPU only where the GPU can agree (one network
evaluation, to TF32 rounding), and with themselves where it must (same seed, same GPU).
"""

from __future__ import annotations

import pytest
import torch

from cli_helpers import run_cli
from enhance_helpers import small_dark_dng
from expodiff.inference.api import enhance
from expodiff.inference.model_loading import load_model

pytestmark = [pytest.mark.gpu, pytest.mark.timeout(300)]


def _dark(h: int = 64, w: int = 96) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.rand(4, h, w, generator=g) * 0.003


def test_auto_is_cuda_and_enhance_runs_there(model_dir, monkeypatch):
    monkeypatch.setattr(torch.backends.cudnn, "deterministic", True)
    model = load_model(model_dir, device="auto")
    assert model.device.type == "cuda"
    assert next(model.denoiser.parameters()).device.type == "cuda"
    kwargs = {"ratio": 100, "system_gain": 2.0, "model": model, "seed": 3}
    first = enhance(_dark(), steps=3, **kwargs)
    assert first.raw_norm.device.type == "cpu" and torch.isfinite(first.raw_norm).all()
    assert torch.equal(enhance(_dark(), steps=3, **kwargs).raw_norm, first.raw_norm)
    # one network evaluation (no photon draws) agrees with the CPU up to TF32 rounding
    on_cpu = load_model(model_dir, device="cpu")
    gpu_one = enhance(_dark(), steps=1, **kwargs).raw_norm
    cpu_one = enhance(_dark(), steps=1, **{**kwargs, "model": on_cpu}).raw_norm
    assert float((gpu_one - cpu_one).abs().max()) < 5e-3
    # tiles on the GPU: several samples, finite, with an uncertainty map
    tiled = enhance(_dark(160, 200), steps=2, samples=2, tile=64, **kwargs)
    assert tiled.uncertainty is not None and torch.isfinite(tiled.raw_norm).all()


def test_cli_with_device_auto_on_cuda(model_dir, tmp_path, capsys):
    dark = small_dark_dng(tmp_path / "dark.dng")
    out = tmp_path / "out.png"
    code, stdout, err = run_cli(
        capsys, "enhance", dark, "-o", out, "--model", model_dir, "--ratio", "100"
    )
    assert code == 0, err
    assert out.is_file() and "ratio 100 (user)" in stdout


def test_a_few_training_steps_on_cuda_with_a_worker(tmp_path, data_dir):  # noqa: ARG001
    from expodiff.train.loop import Trainer
    from train_helpers import make_images, tiny

    images = make_images(tmp_path / "clean")
    cfg = tiny(
        "pg-unet-ed", tmp_path / "run", images, "train.device=cuda", "data.num_workers=1",
        "train.iterations=2",
    )  # fmt: skip
    trainer = Trainer(cfg)
    assert trainer.device.type == "cuda"
    result = trainer.run()
    assert result.step == 2
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())
