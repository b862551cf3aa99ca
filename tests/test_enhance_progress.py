"""Progress within one file (issue 13): tiles x steps x samples, drawn only on a terminal.

The callback counts every network evaluation of a tile, so a long single frame reports
progress within each step; ``expodiff enhance`` draws it with tqdm only when stderr is a
terminal (never in logs or pipes) and not at all with ``--quiet``. CPU pinned throughout:
progress counting does not depend on the device.
"""

from __future__ import annotations

import io
import sys

import pytest
import torch

from enhance_helpers import TEST_CONFIG, save_tiny_model, small_dark_dng
from expodiff.cli import main
from expodiff.diffusion.process import ExposureProcess
from expodiff.inference.api import enhance
from expodiff.inference.model_loading import load_model
from expodiff.inference.trajectories import denoise_frame, tiled
from expodiff.nets.tiling import TiledDenoiser, tile_spans, tiled_forward


def _per_pixel(state, photon_level=None, noisy=None):  # noqa: ARG001
    return (state * 0.9).clamp(0.0, 1.0)


def _noisy(h: int = 96, w: int = 160) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.rand(4, h, w, generator=g) * 0.3 + 0.05


def test_tiled_forward_reports_every_tile():
    state = _noisy()[None]
    calls: list[tuple[int, int]] = []

    def record(done: int, total: int) -> None:
        calls.append((done, total))

    tiled_forward(_per_pixel, state, tile=64, overlap=16, on_tile=record)
    n = len(tile_spans(96, 64, 16)) * len(tile_spans(160, 64, 16))
    assert n == 6 and calls == [(i, n) for i in range(1, n + 1)]
    calls.clear()
    tiled_forward(_per_pixel, state, tile=256, overlap=16, on_tile=record)
    assert calls == [(1, 1)]  # one tile: one call
    wrapper = TiledDenoiser(_per_pixel, tile=64, overlap=16)
    assert wrapper.tiles(96, 160) == 6 and wrapper.tiles(64, 64) == 1


@pytest.mark.parametrize(("tile", "per_step"), [(64, 6), (0, 1)])
def test_denoise_frame_counts_tiles_times_steps_times_samples(tile, per_step):
    noisy = _noisy()[None] * 50
    calls: list[tuple[int, int]] = []
    denoise_frame(
        _per_pixel, ExposureProcess(), noisy, exposure_ratio=50.0, system_gain=2.0, steps=3,
        samples=2, seed=0, tile=tile, progress=lambda d, t: calls.append((d, t)),
    )  # fmt: skip
    total = 2 * 3 * per_step
    assert calls == [(i, total) for i in range(1, total + 1)]


def test_enhance_progress_counts_tiles():
    """The API's ``progress`` sees every tile of a tiled frame."""
    model = load_model(_per_pixel, config=TEST_CONFIG, device="cpu")
    calls: list[tuple[int, int]] = []
    enhance(
        _noisy() / 50, ratio=50, system_gain=2.0, model=model, steps=2, seed=0, tile=64,
        progress=lambda d, t: calls.append((d, t)),
    )  # fmt: skip
    n = tiled(_per_pixel, torch.Size([4, 96, 160]), 64).tiles(96, 160)
    assert n > 1 and calls == [(i, 2 * n) for i in range(1, 2 * n + 1)]


class _Terminal(io.StringIO):
    """A captured stream that says it is a terminal (tqdm then draws its bars)."""

    def isatty(self) -> bool:
        return True


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("progress")
    model = save_tiny_model(folder / "model")
    return small_dark_dng(folder / "dark.dng"), model


def _run(argv, monkeypatch, terminal: bool) -> tuple[int, str, str]:
    out = io.StringIO()
    err = _Terminal() if terminal else io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", err)
    code = main([str(a) for a in argv])
    monkeypatch.undo()
    return code, out.getvalue(), err.getvalue()


@pytest.mark.slow
def test_cli_progress_only_on_a_terminal_and_not_with_quiet(inputs, tmp_path, monkeypatch):
    dark, model_dir = inputs
    # 256 x 192 photosites = 128 x 96 packed pixels: --tile 64 runs several tiles per step
    argv = ["enhance", dark, "--model", model_dir, "--ratio", "100", "--steps", "2",
            "--tile", "64", "--device", "cpu"]  # fmt: skip
    denoiser = load_model(model_dir, device="cpu").denoiser
    total = 2 * tiled(denoiser, torch.Size([4, 96, 128]), 64).tiles(96, 128)
    assert total > 2

    # a pipe or a log: only the summary line, no bar, nothing on stderr
    code, out, err = _run([*argv, "-o", tmp_path / "a.png"], monkeypatch, terminal=False)
    assert code == 0, err
    assert err == ""
    assert out.count("\n") == 1 and out.startswith(f"{dark} -> {tmp_path / 'a.png'}: ratio 100")
    assert "\r" not in out and "tile" not in out

    # a terminal: a bar named after the file, counting tiles x steps
    code, out, err = _run([*argv, "-o", tmp_path / "b.png"], monkeypatch, terminal=True)
    assert code == 0, err
    assert "dark.dng" in err and f"/{total} " in err and "tile" in err, err
    assert out.count("\n") == 1 and "\r" not in out  # the summary stays clean

    # --quiet: no bar even on a terminal
    code, out, err = _run([*argv, "-o", tmp_path / "c.png", "--quiet"], monkeypatch, True)
    assert code == 0 and err == "" and out.count("\n") == 1
