"""Files other programs must read: ``exiftool -validate`` finds nothing to warn about in any
output kind, and darktable and RawTherapee open an enhanced DNG and render what our own
``expodiff develop`` renders of it (same size, correlated content).

Every test is marked ``interop`` and skips, saying why, when its program is not installed
(Debian packages ``libimage-exiftool-perl``, ``darktable``, ``rawtherapee``; ``.ci/run``
installs them). darktable and RawTherapee run with their configuration, cache and HOME in a
temporary folder: no user preset changes the rendering, and nothing is written outside it.

The rendering check compares luminance averaged over 16 x 16-pixel blocks by Pearson
correlation. Measured on the enhanced demo DNG (darktable 4.2.1, RawTherapee 5.9): 0.991-0.992
(darktable's default scene-referred look) and 1.000 (RawTherapee's neutral profile, within
3.7/255 of ours on average); the same DNG with its samples byte-swapped (a writer that gets
the byte order wrong) gives 0.12 and 0.06, with its rows shuffled 0.47 and 0.46, turned 180
degrees -0.39 and -0.37.
:data:`MIN_CORRELATION` sits between, and :func:`test_a_garbled_dng_fails_the_check` shows
that the check fails such a file.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from enhance_helpers import save_tiny_model
from expodiff.cli import main
from expodiff.io.dng import write_dng
from expodiff.io.metadata import PhotoMetadata
from expodiff.io.rawio import read_raw
from expodiff.io.writers import srgb_icc_profile
from expodiff.paths import project_root
from expodiff.sensor import SensorSpec

pytestmark = [pytest.mark.interop, pytest.mark.slow]

DEMO = "canon_d30_x100_iso6400.dng"
MIN_CORRELATION = 0.9
BLOCK = 16  # pixels averaged into one luminance value
# RawTherapee leaves out this many pixels on each side (its demosaicing border; measured).
RAWTHERAPEE_BORDER = 4
TOOL_TIMEOUT_S = 180
# A DefaultCrop for the rotated variant, in raw pixels of the 1024 x 704 demo mosaic.
CROP = (16, 8, 960, 640)


def need(program: str, package: str) -> str:
    path = shutil.which(program)
    if path is None:
        pytest.skip(f"{program} is not installed (Debian package {package})")
    return path


# ---------------------------------------------------------------------- exiftool -validate


def exiftool_validate(path: Path) -> tuple[str, list[str]]:
    """``exiftool -validate``'s verdict on ``path`` ("OK" or a count) and its warnings."""
    exiftool = need("exiftool", "libimage-exiftool-perl")
    result = subprocess.run(
        [exiftool, "-validate", "-warning", "-error", "-a", "-s", str(path)],
        capture_output=True, text=True, timeout=TOOL_TIMEOUT_S, check=True,
    )  # fmt: skip
    lines = [line.split(":", 1) for line in result.stdout.splitlines() if ":" in line]
    fields = [(name.strip(), value.strip()) for name, value in lines]
    verdict = [value for name, value in fields if name == "Validate"]
    problems = [value for name, value in fields if name in ("Warning", "Error")]
    assert len(verdict) == 1, result.stdout
    return verdict[0], problems


@pytest.fixture(scope="module")
def outputs(tmp_path_factory) -> dict[str, Path]:
    """Every kind of file the commands write, from a small DNG with all the metadata we
    carry (date, lens, f-number, focal length, rotated, a default crop)."""
    from _pytest.monkeypatch import MonkeyPatch

    need("exiftool", "libimage-exiftool-perl")
    folder = tmp_path_factory.mktemp("outputs")
    g = np.random.default_rng(0)
    meta = PhotoMetadata(
        datetime_original="2025:06:07 21:30:00",
        f_number=3.5,
        focal_length=35,
        lens_model="FE 35mm F1.8",
        default_crop=(4, 2, 84, 60),
    )
    source = write_dng(
        folder / "source.dng", np.rint(800 + g.uniform(20, 60, (64, 96))),
        SensorSpec.uniform(800, 16383), make="SONY", model="ILCE-7SM2", iso=3200,
        exposure_time=0.05, orientation=6, metadata=meta,
    )  # fmt: skip
    model = save_tiny_model(folder / "model")
    runs = {
        "enhance.png": ["enhance", source, "--model", model, "--ratio", "20"],
        "enhance16.png": ["enhance", source, "--model", model, "--ratio", "20", "--bits", "16"],
        "enhance.tif": ["enhance", source, "--model", model, "--ratio", "20"],
        "enhance8.tif": ["enhance", source, "--model", model, "--ratio", "20", "--bits", "8"],
        "enhance.dng": ["enhance", source, "--model", model, "--ratio", "20"],
        "develop.png": ["develop", source],
        "develop.tif": ["develop", source],
        "develop.dng": ["develop", source],
        "darken.dng": ["darken", source, "--ratio", "10", "--camera", "SonyA7S2", "--iso", "6400"],
        # ISO beyond the 16-bit tag: SensitivityType + ISOSpeed in the EXIF IFD
        "darken-iso102400.dng": ["darken", source, "--ratio", "10", "--camera", "SonyA7S2",
                                 "--iso", "102400"],
    }  # fmt: skip
    made = {}
    with MonkeyPatch.context() as patch:
        patch.setenv("EXPODIFF_DARKTABLE_NOISEPROFILES", "")
        for name, argv in runs.items():
            out = folder / name
            assert main([str(a) for a in [*argv, "-o", out]]) == 0, name
            made[name] = out
    return made


@pytest.mark.parametrize(
    "name",
    [
        "enhance.png", "enhance16.png", "enhance.tif", "enhance8.tif", "enhance.dng",
        "develop.png", "develop.tif", "develop.dng", "darken.dng", "darken-iso102400.dng",
    ],
)  # fmt: skip
def test_exiftool_validates_every_output_kind(outputs, name):
    verdict, problems = exiftool_validate(outputs[name])
    assert (verdict, problems) == ("OK", []), f"{name}: {verdict}: {problems}"


def test_exiftool_check_can_fail(tmp_path):
    """The check sees what it is for: a TIFF with its ICC profile stored as BYTEs, not
    UNDEFINED (as our TIFFs once had it)."""
    path = tmp_path / "bad.tif"
    icc = srgb_icc_profile()
    tifffile.imwrite(path, np.zeros((8, 8, 3), np.uint8), photometric="rgb",
                     extratags=[(0x8773, "B", len(icc), icc, True)])  # fmt: skip
    verdict, problems = exiftool_validate(path)
    assert verdict != "OK"
    assert any("Non-standard format (int8u) for IFD0 0x8773" in p for p in problems), problems


# ---------------------------------------------------------------------- raw editors


def luminance_blocks(image: np.ndarray) -> np.ndarray:
    """Rec. 709 luma of an ``(H, W, 3)`` 8-bit sRGB image, averaged over BLOCK x BLOCK."""
    y = (image.astype(np.float64) / 255) @ np.array([0.2126, 0.7152, 0.0722])
    h, w = (y.shape[0] // BLOCK) * BLOCK, (y.shape[1] // BLOCK) * BLOCK
    return y[:h, :w].reshape(h // BLOCK, BLOCK, w // BLOCK, BLOCK).mean(axis=(1, 3))


def read_rgb(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def correlation(rendered: Path, ours: Path, border: int = 0) -> float:
    """Pearson correlation of the block luminance of ``rendered`` and of our own PNG
    ``ours`` cut by ``border`` pixels on each side; asserts the sizes match."""
    theirs, mine = read_rgb(rendered), read_rgb(ours)
    if border:
        mine = mine[border:-border, border:-border]
    assert theirs.shape == mine.shape, f"{rendered.name}: {theirs.shape} vs ours {mine.shape}"
    a, b = luminance_blocks(theirs).ravel(), luminance_blocks(mine).ravel()
    return float(np.corrcoef(a, b)[0, 1])


def isolated_env(folder: Path) -> dict[str, str]:
    """The environment for a raw editor: HOME, configuration and cache in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update(HOME=str(folder), XDG_CONFIG_HOME=str(folder / "config"),
               XDG_CACHE_HOME=str(folder / "cache"))  # fmt: skip
    return env


def run_darktable(dng: Path, out: Path, work: Path) -> Path:
    """``darktable-cli DNG OUT.png`` with its library in memory and its config in ``work``."""
    program = need("darktable-cli", "darktable")
    argv = [program, str(dng), str(out), "--core", "--configdir", str(work / "darktable"),
            "--cachedir", str(work / "darktable-cache"), "--library", ":memory:"]  # fmt: skip
    return _run_editor(argv, out, work)


def run_rawtherapee(dng: Path, out: Path, work: Path) -> Path:
    """``rawtherapee-cli`` with its neutral processing profile, writing an 8-bit PNG."""
    program = need("rawtherapee-cli", "rawtherapee")
    argv = [program, "-q", "-o", str(out), "-n", "-b8", "-Y", "-c", str(dng)]
    return _run_editor(argv, out, work)


def _run_editor(argv: list[str], out: Path, work: Path) -> Path:
    result = subprocess.run(
        argv, capture_output=True, text=True, timeout=TOOL_TIMEOUT_S, env=isolated_env(work),
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert result.returncode == 0 and out.is_file(), (
        f"{Path(argv[0]).name} failed ({result.returncode}): {result.stdout} {result.stderr}"
    )
    return out


EDITORS = {"darktable": run_darktable, "rawtherapee": run_rawtherapee}


@pytest.fixture(scope="module")
def enhanced(tmp_path_factory) -> dict[str, tuple[Path, Path]]:
    """The demo DNG enhanced to a DNG by the packaged fast model, and two copies of that
    DNG rotated (Orientation 6), one with a DefaultCrop; each with our own PNG of it
    (``expodiff develop``, which applies both): name -> (DNG, our PNG)."""
    from _pytest.monkeypatch import MonkeyPatch

    if not (shutil.which("darktable-cli") or shutil.which("rawtherapee-cli")):
        pytest.skip("neither darktable-cli nor rawtherapee-cli is installed (Debian packages "
                    "darktable, rawtherapee)")  # fmt: skip
    demo = (project_root() or Path.cwd()) / "examples" / DEMO
    if not demo.is_file():
        pytest.skip(f"demo sample {demo} not found (a source checkout has it)")
    folder = tmp_path_factory.mktemp("enhanced")
    dng = folder / "enhanced.dng"
    with MonkeyPatch.context() as patch:
        patch.setenv("EXPODIFF_DARKTABLE_NOISEPROFILES", "")
        argv = ["enhance", str(demo), "-o", str(dng), "--model", "fast", "--ratio", "100"]
        assert main(argv) == 0
    frame = read_raw(dng)
    variants = {"enhanced": dng}
    for name, crop in [("rotated", None), ("rotated-cropped", CROP)]:
        variants[name] = write_dng(
            folder / f"{name}.dng", frame.mosaic, frame.sensor,
            white_balance=frame.white_balance, colour_matrix=frame.colour_matrix,
            make=frame.make, model=frame.model, iso=frame.iso,
            exposure_time=frame.exposure_time, orientation=6,
            metadata=PhotoMetadata(default_crop=crop),
        )  # fmt: skip
    made = {}
    for name, path in variants.items():
        ours = path.with_suffix(".ours.png")
        assert main(["develop", str(path), "-o", str(ours)]) == 0
        made[name] = (path, ours)
    return made


@pytest.mark.parametrize(
    ("editor", "variant"),
    [
        ("darktable", "enhanced"),
        ("darktable", "rotated-cropped"),  # darktable applies Orientation and DefaultCrop
        ("rawtherapee", "enhanced"),
        ("rawtherapee", "rotated"),  # RawTherapee applies Orientation, not DefaultCrop
    ],
)
def test_raw_editor_renders_our_dng_like_we_do(enhanced, tmp_path, editor, variant):
    dng, ours = enhanced[variant]
    rendered = EDITORS[editor](dng, tmp_path / f"{variant}.png", tmp_path / "home")
    border = RAWTHERAPEE_BORDER if editor == "rawtherapee" else 0
    r = correlation(rendered, ours, border)
    assert r > MIN_CORRELATION, f"{editor} on {variant}: correlation {r:.3f}"


def byte_swapped_copy(dng: Path, out: Path) -> Path:
    """``dng`` with every 16-bit sample's bytes swapped: still a valid file, the content a
    writer with the wrong byte order would produce."""
    data = bytearray(dng.read_bytes())
    with tifffile.TiffFile(dng) as tif:
        page = tif.pages.first
        assert page.bitspersample == 16
        spans = list(zip(page.dataoffsets, page.databytecounts, strict=True))
    for offset, count in spans:
        samples = np.frombuffer(bytes(data[offset : offset + count]), "<u2")
        data[offset : offset + count] = samples.byteswap().tobytes()
    out.write_bytes(bytes(data))
    return out


@pytest.mark.parametrize("editor", ["darktable", "rawtherapee"])
def test_a_garbled_dng_fails_the_check(enhanced, tmp_path, editor):
    """The negative control: the editor opens a byte-swapped copy of the enhanced DNG, and
    the rendering check rejects what it shows."""
    dng, ours = enhanced["enhanced"]
    garbled = byte_swapped_copy(dng, tmp_path / "garbled.dng")
    rendered = EDITORS[editor](garbled, tmp_path / "garbled.png", tmp_path / "home")
    border = RAWTHERAPEE_BORDER if editor == "rawtherapee" else 0
    r = correlation(rendered, ours, border)
    assert r < MIN_CORRELATION - 0.3, f"{editor}: a garbled DNG still correlates ({r:.3f})"


def test_correlation_names_a_size_mismatch(tmp_path):
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    Image.fromarray(np.zeros((32, 48, 3), np.uint8)).save(a)
    Image.fromarray(np.zeros((48, 32, 3), np.uint8)).save(b)
    with pytest.raises(AssertionError, match=re.escape("(32, 48, 3) vs ours (48, 32, 3)")):
        correlation(a, b)
