"""The models shipped in the package, chosen by name (``--model default``) or by default."""

from __future__ import annotations

import pytest

from cli_helpers import assert_one_line_error, run_cli
from enhance_helpers import save_tiny_model
from expodiff.errors import ModelError
from expodiff.inference.model_loading import (
    default_model_path,
    load_model,
    packaged_model_names,
    packaged_model_path,
)


def test_the_package_ships_the_default_and_the_fast_model():
    assert packaged_model_names() == ["default", "fast"]
    assert default_model_path() == packaged_model_path("default")


def test_fast_is_the_default_network_at_one_step():
    """``--model fast``: the default's weights, sampled with S = 1 (half the time of S = 2)."""
    import torch

    fast, default = load_model("fast", device="cpu"), load_model("default", device="cpu")
    assert fast.inference_steps == 1 and default.inference_steps == 2
    assert fast.config.model == default.config.model
    a, b = fast.denoiser.state_dict(), default.denoiser.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_packaged_model_loads_by_name_and_by_default():
    named = load_model("default", device="cpu")
    assert named.name == "default" and named.path == packaged_model_path("default")
    assert named.config.model.preset == "nafnet-s" and named.inference_steps == 2
    assert load_model(None, device="cpu").path == named.path


def test_an_unknown_name_lists_the_packaged_ones():
    with pytest.raises(
        ModelError,
        match=r"--model fastest: neither a model folder nor a packaged model; "
        r"packaged: default, fast",
    ):
        load_model("fastest", device="cpu")


def test_an_existing_folder_wins_over_a_packaged_name(tmp_path, monkeypatch):
    save_tiny_model(tmp_path / "default", preset="nafnet1")
    monkeypatch.chdir(tmp_path)
    assert load_model("default", device="cpu").config.model.preset == "nafnet1"


@pytest.mark.data
def test_cli_model_by_name(tmp_path, capsys):
    from expodiff.paths import project_root

    sample = project_root() / "examples" / "canon_d30_x100_iso6400.dng"
    out = tmp_path / "named.png"
    code, stdout, err = run_cli(
        capsys, "enhance", sample, "-o", out, "--model", "default", "--ratio", "100", "--tile", "0"
    )
    assert code == 0, err
    # the default's rules at this file's signal (3.73 electrons per pixel, below the 6.571 from
    # which S = 1): S = 2, whose evaluation budget of 4 gives 2 views per step
    assert "2 steps x 2 views" in stdout and out.is_file()
    code, stdout, err = run_cli(
        capsys, "enhance", sample, "-o", tmp_path / "x.png", "--model", "nope"
    )
    assert_one_line_error(code, stdout, err, "--model nope")
