"""The evaluator: a hand-checkable identity case, the protocols on tiny trees, the CLI."""

from __future__ import annotations

import csv
import math
from fractions import Fraction

import numpy as np
import pytest
import torch

from expodiff.cli import main
from expodiff.config import ExperimentConfig, ModelConfig, load_config
from expodiff.errors import ConfigError
from expodiff.eval import protocols
from expodiff.eval.protocols import (
    BaselineMethod,
    EvalPair,
    ModelMethod,
    evaluate_pairs,
    pairs_from_dataset,
    protocol_pairs,
)
from expodiff.kinds import Baseline, EvalProtocol


class Identity(torch.nn.Module):
    """A "denoiser" that returns its input state."""

    stride = 1

    def forward(self, state, photon_level=None, noisy=None):
        return state


def _known_pair() -> EvalPair:
    clean = torch.full((1, 4, 8, 8), 0.5)
    noisy = clean.clone()
    noisy[..., ::2, ::2] = 0.75  # a quarter of the pixels off by 0.25
    return EvalPair("known", noisy, clean, ratio=100.0, nominal_ratio=100.0, system_gain=1.0)


def test_identity_denoiser_psnr_by_hand():
    from expodiff.diffusion.process import ExposureProcess

    method = ModelMethod("identity", Identity(), ExposureProcess(), steps=1)
    (res,) = evaluate_pairs([_known_pair()], [method], ssim_metric=False)
    # MSE = 0.25^2 / 4 = 1/64  ->  PSNR = 10 log10(64)
    assert res.metrics["psnr"] == pytest.approx(10 * math.log10(64), abs=1e-9)
    # GT correction: scale s = <p, t> / <p, p> with p in {0.5 (3/4), 0.75 (1/4)}, t = 0.5:
    # s = (0.75*0.25 + 0.25*0.375) / (0.75*0.25 + 0.25*0.5625) = 0.28125 / 0.328125 = 6/7
    s = 6 / 7
    mse = 0.75 * (0.5 * s - 0.5) ** 2 + 0.25 * (0.75 * s - 0.5) ** 2
    assert res.metrics["psnr_gt"] == pytest.approx(10 * math.log10(1 / mse), abs=1e-9)
    seen = []
    (scaled,) = evaluate_pairs(
        [_known_pair()],
        [BaselineMethod(Baseline.SCALED)],
        on_prediction=lambda pair, name, pred: seen.append((pair.name, name, pred.shape)),
    )
    assert seen == [("known", "scaled input", (4, 8, 8))]
    assert scaled.metrics["psnr"] == pytest.approx(res.metrics["psnr"])
    assert scaled.method == "scaled input" and 0 < scaled.metrics["ssim"] < 1


def test_synthetic_pairs_are_reproducible(data_dir):  # noqa: ARG001
    from expodiff.build import build_noise_model
    from expodiff.data.factory import build_dataset

    cfg = ExperimentConfig()
    ds = build_dataset(load_config(None, ["data.test_sets=[Kodak24]"]).data, "test", seed=0)
    noise = build_noise_model(cfg.noise)

    def make():
        return list(
            pairs_from_dataset(
                ds, noise_model=noise, ratios=(100, 300), seed=3, max_images=2, crop=32
            )
        )

    a, b = make(), make()
    assert [(p.name, p.ratio) for p in a] == [(p.name, p.ratio) for p in b]
    assert len(a) == 4 and a[0].noisy.shape == (1, 4, 32, 32)
    assert all(torch.equal(x.noisy, y.noisy) for x, y in zip(a, b, strict=True))
    assert a[0].read_std is not None and a[0].read_std > 0
    # the gain comes from the image's ISO through the camera profile
    assert a[0].system_gain == pytest.approx(
        float(noise.params_for_iso(ds[0].iso).system_gain[0]), rel=1e-6
    )


def _sid15_tree(root):
    from expodiff.paths import data_root
    from fixtures_data import scene_norm, to_dn, write_raw

    longs = {}

    lines = (data_root() / "splits" / protocols.SID15_LIST).read_text().split("\n")
    for i, line in enumerate(l for l in lines if l.strip()):
        short, long_name, _ = line.split()
        if long_name not in longs:
            longs[long_name] = scene_norm(24, 32, seed=i)
            t = Fraction(long_name.rsplit("_", 1)[1][:-5])
            write_raw(
                root / "Sony" / "long" / long_name,
                to_dn(longs[long_name]),
                iso=100,
                exposure_time=t,
            )
        t = Fraction(short.rsplit("_", 1)[1][:-5])
        ratio = float(Fraction(long_name.rsplit("_", 1)[1][:-5]) / t)
        write_raw(
            root / "Sony" / "short" / short,
            to_dn(longs[long_name] / ratio),
            iso=100,
            exposure_time=t,
        )
    return root


@pytest.mark.slow
def test_sid15_crop_protocol_on_a_tree_with_the_real_names(tmp_path, data_dir, monkeypatch):  # noqa: ARG001
    root = _sid15_tree(tmp_path / "SID")
    monkeypatch.setattr(protocols, "SID15_CROP", 8)  # the tiny frames are 12x16 packed
    cfg = load_config(None, [f"eval.root={root}", "eval.max_images=2"])
    pairs, notes = protocol_pairs(cfg, EvalProtocol.SID15_CROP)
    pairs = list(pairs)
    assert sorted({p.nominal_ratio for p in pairs}) == [100.0, 250.0, 300.0]
    assert len(pairs) == 6 and all(p.noisy.shape == (1, 4, 8, 8) for p in pairs)
    assert "SID_Sony_15_paired" in notes[0]
    with pytest.raises(ConfigError, match="needs the dataset root"):
        protocol_pairs(load_config(None, []), "sid-full")


def test_eld_protocol_groups_by_camera(tmp_path, data_dir):  # noqa: ARG001
    from fixtures_data import make_eld_tree

    root = make_eld_tree(tmp_path / "ELD", scenes=(1,))
    cfg = load_config(None, [f"eval.root={root}", "data.eld_scenes=[1]"])  # default: 100, 200
    pairs, _ = protocol_pairs(cfg, "eld")
    pairs = list(pairs)
    assert {p.group for p in pairs} == {"SonyA7S2"}
    assert sorted({p.nominal_ratio for p in pairs}) == [100.0, 200.0]
    # K and the read noise on the files' own scale (white - black = 15871 DN): the profile's
    # K x 15583 / 15871, and the read noise's electrons kept
    from dataclasses import replace

    from expodiff.build import build_noise_model
    from expodiff.noise import params as noise_params

    model = build_noise_model(replace(cfg.noise, cameras=("SonyA7S2",)))
    for p in pairs:
        params = model.params_for_iso(p.sample.iso)
        k = float(params.system_gain[0])
        assert p.system_gain == pytest.approx(k * 15583 / 15871)
        electrons = noise_params.read_noise_std(params, 0, model.components) / k
        assert p.read_std / p.system_gain == pytest.approx(electrons)
    res = evaluate_pairs(pairs, [BaselineMethod(Baseline.SCALED)])
    assert len(res) == len(pairs) and all(r.group == "SonyA7S2" for r in res)
    with pytest.raises(ConfigError, match="protocol eld has ratios 100, 200; got 300"):
        protocol_pairs(load_config(None, [f"eval.root={root}", "eval.ratios=[300]"]), "eld")


def test_evaluate_cli_synthetic(tmp_path, data_dir, capsys):  # noqa: ARG001
    from expodiff.build import build_denoiser
    from expodiff.io.modelfiles import save_denoiser

    cfg = ExperimentConfig(name="tiny", model=ModelConfig(preset="unet-slim", width=4, depth=2))
    save_denoiser(tmp_path / "run" / "model", build_denoiser(cfg.model), cfg)
    out = tmp_path / "eval"
    args = [
        "evaluate",
        "--protocol",
        "synthetic",
        "--model",
        str(tmp_path / "run" / "model"),
        "--baseline",
        "scaled",
        "--ratios",
        "100,300",
        "--max-images",
        "1",
        "--steps",
        "2",
        "--srgb",
        "--set",
        "eval.crop=32",
        "--set",
        "eval.tile=16",  # the 32x32 crops run in overlapping tiles
        "--set",
        "eval.tile_overlap=4",
        "--consistency",
        "4",
        "-o",
        str(out),
    ]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "## x100" in text and "## x300" in text and "run (S=2)" in text
    with open(out / "summary.csv") as fh:
        rows = list(csv.DictReader(fh))
    # --consistency adds a second, labelled row of every model.
    methods = {"run (S=2)", "run (S=2, consistency 4)", "scaled input"}
    assert {r["method"] for r in rows} == methods
    assert all(np.isfinite(float(r["psnr"])) and r["psnr_gt"] for r in rows)
    assert all(np.isfinite(float(r["psnr_srgb"])) and r["ssim_srgb_gt"] for r in rows)
    assert "sRGB PSNR (GT-corrected)" in (out / "report.md").read_text()
    assert main(args) == 2  # the report exists: --overwrite needed
    assert "--overwrite" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args, message",
    [
        (["--protocol", "sid15"], "unknown protocol 'sid15'; valid: sid15-crop"),
        (["--protocol", "synthetic"], "nothing to evaluate"),
        (["--protocol", "sid-full", "--baseline", "scaled"], "needs the dataset root"),
        (["--baseline", "bm4d"], "unknown baseline 'bm4d'"),
        (["--ratios", "100,x"], "comma-separated numbers"),
        (["--model", "/nonexistent/model"], "model not found"),
        (["--baseline", "scaled", "--consistency", "0"], "--consistency: must be a positive"),
    ],
)
def test_evaluate_cli_bad_inputs(args, message, tmp_path, capsys):
    argv = ["evaluate", "-o", str(tmp_path / "e"), *args]
    if "unknown" in message or "comma" in message or "--consistency" in message:
        # argparse rejects the option itself
        with pytest.raises(SystemExit, match="^2$") as exc:
            main(argv)
        assert exc.value.code == 2
    else:
        assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_evaluation_tiles_frames_as_enhance_does():
    """One tile rule: the evaluation's default tile is enhance's (None: frames above TILE packed
    pixels are tiled, or STAGED_TILE for a staged network; 0 never tiles; overlap
    min(32, tile / 4)), through the same function."""
    from expodiff.config import EvalConfig, load_config
    from expodiff.diffusion.process import ExposureProcess
    from expodiff.eval.methods import ModelMethod
    from expodiff.eval.pairs import EvalPair
    from expodiff.inference.trajectories import denoise_frame
    from expodiff.nets.tiling import tile_spans

    assert EvalConfig().tile is None and ModelMethod("m", None, None).tile is None
    assert EvalConfig().tile_overlap is None
    assert load_config(None, ["eval.tile=0"]).eval.tile == 0
    seen: list[tuple[int, int]] = []

    def per_pixel(state, photon_level, noisy):
        seen.append(tuple(state.shape[-2:]))
        return (0.9 * state + 0.01 * photon_level.mean()).clamp(0, 1)

    g = torch.Generator().manual_seed(0)
    noisy = torch.rand(1, 4, 96, 160, generator=g) * 0.5
    pair = EvalPair("x", noisy, noisy, 50.0, 50.0, 2.0)
    method = ModelMethod("m", per_pixel, ExposureProcess(), steps=2, tile=64)
    out = method(pair, torch.Generator().manual_seed(3))
    n = len(tile_spans(96, 64, 16)) * len(tile_spans(160, 64, 16))  # overlap 64 / 4 = 16
    assert len(seen) == 2 * n and set(seen) == {(64, 64)}
    same, _ = denoise_frame(
        per_pixel, ExposureProcess(), noisy, exposure_ratio=50.0, system_gain=2.0, steps=2,
        seed=torch.Generator().manual_seed(3), tile=64,
    )  # fmt: skip
    assert torch.equal(out, same)
    seen.clear()
    ModelMethod("m", per_pixel, ExposureProcess(), steps=2, tile=0)(pair, torch.Generator())
    assert seen == [(96, 160)] * 2
