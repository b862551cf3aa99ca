"""Bounds of ``--steps``, ``--samples``, ``--ratio`` and a model's own step count: one-line
errors in the CLI and the API.

``--steps 1000`` used to run for many minutes without a word, ``--ratio 1e9`` wrote a white
image, ``--samples 1000000000`` and a model config with ``inference_steps: 1000`` ran
unbounded; all are now refused with the documented maximum (``expodiff.inference.limits``).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import torch

from enhance_helpers import TEST_CONFIG, Oracle
from expodiff.cli import build_parser, main
from expodiff.errors import ExpodiffError
from expodiff.inference.api import enhance
from expodiff.inference.limits import MAX_RATIO, MAX_SAMPLES, MAX_STEPS
from expodiff.inference.model_loading import load_model
from expodiff.io.frame import frame_from_mosaic
from expodiff.sensor import SensorSpec


def _clean() -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.rand(4, 16, 16, generator=g) * 0.3 + 0.05


def _oracle():
    # CPU pinned: the bounds do not depend on the device.
    return load_model(Oracle(_clean()), config=TEST_CONFIG, device="cpu")


@pytest.mark.parametrize(
    ("option", "value", "problem"),
    [
        ("--steps", "1000", f"must be <= {MAX_STEPS} (each step runs the network"),
        ("--steps", str(MAX_STEPS + 1), f"must be <= {MAX_STEPS}"),
        ("--steps", "0", "must be >= 1"),
        ("--samples", "1000000000", f"must be <= {MAX_SAMPLES} (each sample runs the whole"),
        ("--samples", str(MAX_SAMPLES + 1), f"must be <= {MAX_SAMPLES}"),
        ("--samples", "0", "must be >= 1"),
        ("--ratio", "1e9", f"must be <= {MAX_RATIO:g} (beyond it a single DN"),
        ("--ratio", "10000.5", f"must be <= {MAX_RATIO:g}"),
        ("--ratio", "0.5", "expodiff brightens, it does not darken"),
    ],
)
def test_cli_refuses_out_of_range_steps_samples_and_ratio(tmp_path, capsys, option, value, problem):
    out = tmp_path / "x.png"
    with pytest.raises(SystemExit, match="^2$") as info:
        main(["enhance", str(tmp_path / "in.dng"), "-o", str(out), option, value])
    assert info.value.code == 2
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]
    assert last.startswith("expodiff enhance: error: argument") and option in last, err
    assert problem in last and value in last, err
    assert "Traceback" not in err and not out.exists()


def test_cli_accepts_the_bounds_themselves(tmp_path):
    args = build_parser().parse_args(
        ["enhance", str(tmp_path / "in.dng"), "-o", "x.png", "--steps", str(MAX_STEPS),
         "--ratio", f"{MAX_RATIO:g}", "--samples", str(MAX_SAMPLES)]
    )  # fmt: skip
    assert (args.steps, args.ratio, args.samples) == (MAX_STEPS, MAX_RATIO, MAX_SAMPLES)


def test_api_refuses_out_of_range_steps_and_ratio():
    clean, model = _clean(), _oracle()
    dark = clean / 100
    for kwargs, match in [
        ({"steps": 1000, "ratio": 100}, rf"steps must be an integer from 1 to {MAX_STEPS}"),
        ({"steps": MAX_STEPS + 1, "ratio": 100}, "got 51"),
        ({"ratio": 1e9}, rf"ratio must be <= {MAX_RATIO:g} \(beyond it a single DN"),
        ({"ratio": MAX_RATIO * 1.001}, "ratio must be <="),
        ({"samples": 10**9, "ratio": 100}, rf"samples must be an integer from 1 to {MAX_SAMPLES}"),
        ({"samples": MAX_SAMPLES + 1, "ratio": 100}, "got 257"),
    ]:
        with pytest.raises(ExpodiffError, match=match):
            enhance(dark, model=model, system_gain=2.0, **kwargs)
    # the bounds themselves run
    result = enhance(dark, model=model, system_gain=2.0, ratio=100, steps=MAX_STEPS, seed=0)
    assert result.steps == MAX_STEPS and torch.equal(result.raw_norm, clean)
    with pytest.warns(UserWarning, match="outside the range the model was trained on"):
        result = enhance(dark, model=model, system_gain=2.0, ratio=MAX_RATIO, steps=1, seed=0)
    assert result.ratio == MAX_RATIO


def test_an_automatic_ratio_above_the_maximum_is_an_error_naming_the_input():
    model = _oracle()
    # brightness: a frame 1e6 below the training brightness (almost no signal)
    nearly_black = torch.full((4, 16, 16), 1e-7)
    with pytest.raises(ExpodiffError, match=r"^array: the brightness ratio 1\.25e\+06 is above"):
        enhance(nearly_black, model=model, system_gain=2.0)
    # EXIF: a target exposure 1e5 times the file's
    sensor = SensorSpec.uniform(800.0, 16383.0)
    mosaic = np.full((32, 32), 900, np.uint16)
    frame = frame_from_mosaic(
        mosaic, sensor, iso=100, exposure_time=Fraction(1, 100), path="night.dng"
    )
    with pytest.raises(ExpodiffError, match=r"night\.dng: the exif ratio 1e\+05 is above the max"):
        enhance(frame, model=model, system_gain=2.0, target_exposure=1000.0)
    # within the bounds, the same frame runs
    result = enhance(frame, model=load_model(Oracle(torch.full((4, 16, 16), 0.5)),
                                             config=TEST_CONFIG, device="cpu"),
                     system_gain=2.0, target_exposure=1.0)  # fmt: skip
    assert result.ratio == pytest.approx(100.0)


def test_a_model_config_beyond_the_step_bound_is_refused_when_loaded(tmp_path, capsys):
    """A model folder's (or a bare denoiser's) diffusion.inference_steps is bounded as --steps
    is: refused in one line naming the config when the model is loaded, before any work."""
    import dataclasses

    import yaml

    from enhance_helpers import save_tiny_model
    from expodiff.errors import ConfigError, ModelError

    folder = save_tiny_model(tmp_path / "m")
    config = folder / "config.yaml"
    data = yaml.safe_load(config.read_text())
    for steps in (1000, MAX_STEPS + 1, 0):
        data["diffusion"]["inference_steps"] = steps
        config.write_text(yaml.safe_dump(data))
        with pytest.raises(
            ModelError,
            match=rf"config.yaml: .*inference_steps must be in \[1, {MAX_STEPS}\], got {steps}",
        ):
            load_model(folder, device="cpu")
        (tmp_path / "in.dng").write_bytes(b"")  # never read: the model is loaded first
        code = main(["enhance", str(tmp_path / "in.dng"), "-o", str(tmp_path / "o.png"),
                     "--model", str(folder), "--ratio", "10"])  # fmt: skip
        out, err = capsys.readouterr()
        assert code == 2 and out == "" and err.count("\n") == 1, err
        assert err.startswith(f"expodiff: error: {config}: invalid model config: diffusion.")
        assert f"inference_steps must be in [1, {MAX_STEPS}], got {steps}" in err
        assert not (tmp_path / "o.png").exists()
    data["diffusion"]["inference_steps"] = MAX_STEPS
    config.write_text(yaml.safe_dump(data))
    assert load_model(folder, device="cpu").inference_steps == MAX_STEPS
    # a bare denoiser's config, and a training config (its model could not be loaded)
    many = dataclasses.replace(
        TEST_CONFIG, diffusion=dataclasses.replace(TEST_CONFIG.diffusion, inference_steps=1000)
    )
    with pytest.raises(ModelError, match="inference_steps must be 1 to 50"):
        load_model(Oracle(_clean()), config=many, device="cpu")
    from expodiff.train.setup import check_train_config

    with pytest.raises(ConfigError, match="inference_steps must be <= 50"):
        check_train_config(many)
