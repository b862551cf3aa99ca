"""diffusion.steps_by_signal: the sampler's S chosen by the input's signal level."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from expodiff.config import DiffusionConfig, load_config


def test_the_rule_picks_by_mean_electrons():
    d = DiffusionConfig(inference_steps=2, steps_by_signal=((200.0, 1), (20.0, 2), (0.0, 3)))
    assert [d.steps_for_signal(e) for e in (1e4, 200.0, 199.9, 20.0, 5.0, 0.0)] == [
        1,
        1,
        2,
        2,
        3,
        3,
    ]
    assert DiffusionConfig(inference_steps=2).steps_for_signal(5.0) == 2


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (((20.0, 1), (200.0, 2), (0.0, 3)), "strictly decreasing"),
        (((200.0, 1), (20.0, 2)), "must end with minimum 0"),
        (((200.0, 1), (0.0, 0)), "integers 1-50"),
        (((float("nan"), 1), (0.0, 2)), "finite"),
    ],
)
def test_bad_rules_are_refused(rule, message):
    with pytest.raises(ValueError, match=message):
        DiffusionConfig(steps_by_signal=rule)


def test_a_model_with_a_rule_enhances_with_the_steps_it_picks(model_dir, tmp_path):
    """Through the API: a bright and a dark input of one model get different S; --steps wins."""
    import shutil

    from expodiff.config import dump_config
    from expodiff.inference.api import enhance

    folder = tmp_path / "model"
    shutil.copytree(model_dir, folder)
    cfg = load_config(folder / "config.yaml")
    rule = ((50.0, 1), (0.0, 3))
    cfg = dataclasses.replace(
        cfg, diffusion=dataclasses.replace(cfg.diffusion, steps_by_signal=rule)
    )
    (folder / "config.yaml").write_text(dump_config(cfg))
    g = torch.Generator().manual_seed(0)
    bright = torch.rand(4, 16, 16, generator=g) * 0.02 + 0.01  # K = 1: ~150-460 electrons
    dark = bright / 100.0
    kw = {"model": folder, "ratio": 10.0, "system_gain": 1.0, "seed": 0}
    assert enhance(bright, **kw).steps == 1
    assert enhance(dark, **kw).steps == 3
    assert enhance(dark, steps=2, **kw).steps == 2
    assert load_config(folder / "config.yaml").diffusion.steps_by_signal == rule


def test_input_consistency_only_above_its_signal_minimum(model_dir, tmp_path):
    """diffusion.input_consistency_min_electrons: the model's consistency applies to a bright
    input and not to a dark one; --consistency given by the caller applies to both."""
    import shutil

    from expodiff.config import dump_config
    from expodiff.inference.api import enhance

    folder = tmp_path / "model"
    shutil.copytree(model_dir, folder)
    cfg = load_config(folder / "config.yaml")
    diffusion = dataclasses.replace(
        cfg.diffusion, input_consistency_sigma=8.0, input_consistency_min_electrons=50.0
    )
    (folder / "config.yaml").write_text(dump_config(dataclasses.replace(cfg, diffusion=diffusion)))
    g = torch.Generator().manual_seed(0)
    bright = torch.rand(4, 16, 16, generator=g) * 0.02 + 0.01  # K = 1: ~150-460 electrons
    dark = bright / 100.0
    kw = {"model": folder, "ratio": 10.0, "system_gain": 1.0, "seed": 0, "steps": 1}
    on = enhance(bright, **kw)
    assert on.input_consistency_sigma == 8.0 and "input consistency 8 px" in on.summary()
    off = enhance(dark, **kw)
    assert off.input_consistency_sigma is None and "consistency" not in off.summary()
    assert enhance(dark, input_consistency_sigma=4.0, **kw).input_consistency_sigma == 4.0
    assert enhance(bright, input_consistency_sigma=0.0, **kw).input_consistency_sigma is None


def test_the_offset_rule_keeps_a_weak_inputs_offset(model_dir, tmp_path):
    """diffusion.input_consistency_offset_min_electrons: below it the model's consistency leaves
    the prediction's per-channel offset alone (and the summary says so); above it, and without
    one, the consistency corrects the offset too."""
    import shutil

    from expodiff.config import dump_config
    from expodiff.inference.api import enhance

    d = DiffusionConfig(input_consistency_sigma=8.0, input_consistency_offset_min_electrons=50.0)
    assert [d.consistency_keeps_offset(e) for e in (0.0, 49.9, 50.0, 1e4)] == [1, 1, 0, 0]
    assert not DiffusionConfig(input_consistency_sigma=8.0).consistency_keeps_offset(0.0)
    with pytest.raises(ValueError, match="offset_min_electrons must be >= 0"):
        DiffusionConfig(input_consistency_offset_min_electrons=-1.0)
    folder = tmp_path / "model"
    shutil.copytree(model_dir, folder)
    cfg = load_config(folder / "config.yaml")
    (folder / "config.yaml").write_text(dump_config(dataclasses.replace(cfg, diffusion=d)))
    g = torch.Generator().manual_seed(0)
    bright = torch.rand(4, 16, 16, generator=g) * 0.02 + 0.01  # K = 1: ~150-460 electrons
    kw = {"model": folder, "ratio": 10.0, "system_gain": 1.0, "seed": 0, "steps": 1}
    full = enhance(bright, **kw)
    assert full.input_consistency_sigma == 8.0 and not full.input_consistency_keeps_offset
    kept = enhance(bright / 100.0, **kw)
    assert kept.input_consistency_sigma == 8.0 and kept.input_consistency_keeps_offset
    assert "input consistency 8 px (offset kept)" in kept.summary()
