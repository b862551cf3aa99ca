"""SIGTERM ends a command as Ctrl-C does: temporary files removed, status 143."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest

from expodiff.io.dng import write_frame_dng
from expodiff.io.frame import frame_from_mosaic
from expodiff.raw import CFAPattern
from expodiff.sensor import SensorSpec

# Runs expodiff with every atomic write held open after its temporary file is complete: the
# moment a kill would leave a hidden .NAME.XXXX.tmp.EXT behind.
DRIVER = """
import contextlib, sys, time
import expodiff.io.atomic as atomic

real = atomic.atomic_output

@contextlib.contextmanager
def held(path, **kwargs):
    with real(path, **kwargs) as tmp:
        yield tmp
        print("written", tmp, flush=True)
        time.sleep(120)

atomic.atomic_output = held
from expodiff.cli import main
raise SystemExit(main(sys.argv[1:]))
"""


def _small_dng(path):
    rng = np.random.default_rng(0)
    mosaic = (64 + rng.random((64, 96)) * 900).astype(np.uint16)
    sensor = SensorSpec.uniform(64, 4095, CFAPattern.RGGB)
    frame = frame_from_mosaic(mosaic, sensor, iso=800, exposure_time=Fraction(1, 100))
    return write_frame_dng(path, frame)


@pytest.mark.parametrize("sig, code, word", [(signal.SIGTERM, 143, "terminated"),
                                             (signal.SIGINT, 130, "interrupted")])  # fmt: skip
def test_a_signal_while_writing_leaves_no_temporary_file(tmp_path, sig, code, word):
    (tmp_path / "in").mkdir()
    source = _small_dng(tmp_path / "in" / "shot.dng")
    out = tmp_path / "out"
    out.mkdir()
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    proc = subprocess.Popen(
        [sys.executable, str(driver), "develop", str(source), "-o", str(out / "shot.png")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("written"), proc.communicate(timeout=60)
        tmp = line.split(maxsplit=1)[1].strip()
        assert os.path.basename(tmp).startswith(".shot.") and os.path.exists(tmp)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == code, err
    assert err.strip().splitlines()[-1] == f"expodiff: {word}"
    assert "Traceback" not in err
    assert list(out.iterdir()) == []  # neither the output nor its temporary file
