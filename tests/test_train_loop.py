"""expodiff train: a few steps per config family, exact resume, Ctrl-C, dry run, bad inputs."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from expodiff.build import load_denoiser
from expodiff.cli import main
from expodiff.config import load_config
from expodiff.errors import ConfigError, DataError, ModelError
from expodiff.train.loop import Trainer
from train_helpers import CONFIGS, make_images, tiny, tiny_sets


@pytest.fixture(scope="module")
def images(tmp_path_factory, data_dir) -> Path:  # noqa: ARG001 (unprocess needs sid_meta)
    return make_images(tmp_path_factory.mktemp("clean"))


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("pg-unet-ed", marks=pytest.mark.slow),
        "eld-nafnet1-ff",  # the fast tier's case (make test-fast)
        pytest.param("pg-nafnet2-ed", marks=pytest.mark.slow),
        pytest.param("pg-unet-n2n", marks=pytest.mark.slow),
    ],
)
def test_a_few_steps_per_synthetic_family(name, images, tmp_path):
    cfg = tiny(name, tmp_path / "run", images)
    result = Trainer(cfg).run()
    assert result.step == 4 and not result.interrupted and np.isfinite(result.last_loss)
    assert set(result.val_psnr) == {100.0}
    model, saved = load_denoiser(result.model_dir)
    assert saved.name == name
    with open(tmp_path / "run" / "log.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["step"]) for r in rows] == [2, 4]
    # lr of the logged step: index 1 < floor(0.5 * 4); index 3 >= floor(0.9 * 4)
    assert float(rows[0]["lr"]) == 1e-4 and float(rows[1]["lr"]) == 1e-5


@pytest.mark.parametrize(
    "name", [pytest.param("real-unet-ed", marks=pytest.mark.slow), "real-nafnet1-ff"]
)
def test_a_few_steps_on_real_pairs(name, sid, tmp_path):
    cfg = tiny(name, tmp_path / "run", None, sid=sid)
    result = Trainer(cfg).run()
    assert result.step == 4 and np.isfinite(result.last_loss)
    assert result.val_psnr  # the real validation pairs carry their own ratios


def test_refuses_to_overwrite_a_run_and_resume_needs_a_checkpoint(images, tmp_path):
    cfg = tiny("pg-unet-ff", tmp_path / "run", images, "train.iterations=1")
    with pytest.raises(ConfigError, match="no checkpoint to resume from"):
        Trainer(cfg, resume=True)
    Trainer(cfg).run()
    with pytest.raises(ConfigError, match="already holds checkpoints.*--resume"):
        Trainer(cfg)
    other = tiny("pg-unet-ff", tmp_path / "run", images, "train.iterations=1", "model.width=8")
    with pytest.raises(ModelError, match="model differs.*model.width"):
        Trainer(other, resume=True)


def test_bad_inputs_give_clear_errors(images, tmp_path):
    with pytest.raises(ConfigError, match=r"unknown config key train\.iteratons"):
        tiny("pg-unet-ed", tmp_path / "r", images, "train.iteratons=3")
    with pytest.raises(DataError, match="not found"):
        Trainer(tiny("pg-unet-ed", tmp_path / "r", images, f"data.root={tmp_path}/missing"))
    with pytest.raises(ConfigError, match="noise2noise.*real pairs"):
        Trainer(
            load_config(
                CONFIGS / "pg-unet-n2n.yaml", ["data.kind=sid_paired", f"data.root={tmp_path}"]
            )
        )
    with pytest.raises(ConfigError, match="feed-forward"):
        Trainer(tiny("pg-unet-n2n", tmp_path / "r", images, "diffusion.train_steps=3"))
    with pytest.raises(DataError, match="data.root is required"):
        Trainer(load_config(CONFIGS / "real-unet-ed.yaml", []))


def test_cli_dry_run_writes_nothing(images, tmp_path, capsys):
    out = tmp_path / "dry"
    args = ["train", "--config", str(CONFIGS / "pg-unet-ed.yaml"), "--dry-run"]
    for s in tiny_sets("pg-unet-ed", out, images):
        args += ["--set", s]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "dry run of pg-unet-ed" in text and "nothing written" in text
    assert not out.exists()
    assert (
        main(["train", "--config", str(CONFIGS / "pg-unet-ed.yaml"), "--set", "train.iteratons=2"])
        == 2
    )
    assert "unknown config key train.iteratons" in capsys.readouterr().err


def test_a_bad_file_read_in_a_worker_is_a_one_line_error(images, tmp_path):
    import shutil

    bad = tmp_path / "clean"
    shutil.copytree(images, bad)
    for p in (bad / "set").iterdir():
        p.write_bytes(b"not a png")  # every file: whichever the sampler draws first is broken
    cfg = tiny("pg-unet-ff", tmp_path / "run", bad, "data.num_workers=1", "data.val_sets=[]")
    with pytest.raises(
        DataError, match=r"img\d\.png: cannot read image \(cannot identify image"
    ) as exc:
        Trainer(cfg).run()
    assert "\n" not in str(exc.value) and "img" in str(exc.value)
