"""The exposure ratio of ``expodiff enhance``: brightness statistic, EXIF ratio."""

from __future__ import annotations

from fractions import Fraction

import pytest
import torch

from enhance_helpers import canon_clean, darkened
from expodiff.inference.ratio import (
    BRIGHTNESS_TARGET,
    RatioSource,
    brightness_ratio,
    exif_ratio,
    raw_brightness,
)


def test_brightness_is_linear_and_ignores_the_brightest_blocks():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(4, 64, 96, generator=g) * 0.2
    assert raw_brightness(x / 7) == pytest.approx(raw_brightness(x) / 7, rel=1e-6)
    lamp = x.clone()
    lamp[:, :8, :8] = 1.0  # one saturated block of 96: in the trimmed 2 %
    assert raw_brightness(lamp) == pytest.approx(raw_brightness(x), rel=0.02)
    assert float(lamp.mean()) > 1.05 * float(x.mean())  # a plain mean would move
    with pytest.raises(ValueError, match=r"packed_norm must be a non-empty \(C, h, w\), got"):
        raw_brightness(torch.zeros(64, 64))


def test_black_frame_has_no_ratio():
    found = brightness_ratio(torch.zeros(4, 32, 32))
    assert found.ratio == float("inf") and found.source is RatioSource.BRIGHTNESS


@pytest.mark.data
@pytest.mark.parametrize(
    ("ratio", "camera", "iso"),
    [pytest.param(20, "SonyA7S2", 800, marks=pytest.mark.slow),
     (100, "SonyA7S2", 3200),  # the fast tier's case (make test-fast)
     pytest.param(300, "SonyA7S2", 6400, marks=pytest.mark.slow),
     pytest.param(100, "NikonD850", 1600, marks=pytest.mark.slow),
     pytest.param(250, "CanonEOS70D", 3200, marks=pytest.mark.slow)],
)  # fmt: skip
def test_auto_ratio_recovers_true_ratio(raw_dir, ratio, camera, iso):
    """A clean frame at the target brightness, darkened by r with calibrated ELD noise.

    Without the colour-bias component: a black-level error of a few DN (4 DN on the Sony at
    ISO 6400) is as large as the whole signal of a x300 frame (6.5 DN) and shifts any
    brightness statistic; docs/enhance.md says so.
    """
    clean = canon_clean(raw_dir, size=384)
    assert raw_brightness(clean) == pytest.approx(BRIGHTNESS_TARGET, rel=0.02)  # highlights clip
    dark, _ = darkened(clean, ratio, camera=camera, iso=iso, preset="eld")
    found = brightness_ratio(dark)
    assert found.source is RatioSource.BRIGHTNESS
    assert found.ratio == pytest.approx(ratio, rel=0.15)


def test_exif_ratio():
    found = exif_ratio(Fraction(1, 20), 3200, target_exposure=5.0)
    assert found.ratio == pytest.approx(100) and found.source is RatioSource.EXIF
    # a target ISO: exposure x ISO over exposure x ISO
    found = exif_ratio(Fraction(1, 10), 6400, target_exposure=10.0, target_iso=100)
    assert found.ratio == pytest.approx(10 * 100 / (0.1 * 6400))
    assert exif_ratio(None, 100, target_exposure=1.0) is None
    assert exif_ratio(Fraction(1, 10), None, target_exposure=1.0, target_iso=100) is None
    with pytest.raises(ValueError, match="target_exposure must be a positive number, got 0.0"):
        exif_ratio(Fraction(1, 10), 100, target_exposure=0.0)
