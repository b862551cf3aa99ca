#!/usr/bin/env python
"""Held-out quality of ``expodiff enhance`` on dark DNGs of photos never trained on (issue 12).

The "Done when" measurement of issue 12: real photographs that no model of the project was
trained on, unprocessed to clean raw frames, darkened with the calibrated noise of real
cameras into DNG files, then enhanced through the **real CLI**
(``expodiff enhance FILES -o OUT/ --format dng --ratio R [--model PATH]``, the same code path
as ``expodiff enhance FILE.dng -o OUT.dng --ratio R``, one subprocess per ratio and chunk of
files) and compared, by PSNR of the packed raw_norm against the clean reference, with BM3D
and A-BM3D given the *true* noise level and with the scaled input.

The set (:data:`IMAGES`, :data:`CONDITIONS`):

* **Images**: a fixed list of ``clean/Photos`` (:data:`IMAGES`; ``--limit N`` takes the first
  N), centre crop of ``--crop W H`` sRGB pixels (= mosaic pixels; default 512 x 384: BM3D
  and A-BM3D take ~40 s each per file of that size on one thread of the project's CPU).
  **These photos must stay out of every training and validation set.**
* **Clean raw**: :func:`expodiff.data.unprocess.unprocess` with the white balance and colour
  matrix of the SID *test* scenes shot at ISO 800-1600 (:data:`SCENE_ISO_RANGE`; the image
  of index i takes scene ``i mod 4``) and a brightness drawn by the training rule
  (N(0.8, 0.1) clipped to [0.5, 1.1]) seeded by the image name; RGGB, on each camera
  profile's DN levels (black 800, white 16383 for the ELD calibrations); written as a 16-bit
  DNG (``WORKDIR/set-WxH/clean/``) and read back, so the reference is exactly what was darkened.
* **Dark DNGs**: :func:`expodiff.enhance.darken.darken_frame` (the code of ``expodiff
  darken``; ``eld+bias`` noise: shot, Tukey-lambda read, row noise, colour bias) of the clean
  DNG at each condition's camera, ISO and ratio, seed :func:`file_seed` (CRC-32 of the file
  name); the equivalent command is ``expodiff darken CLEAN.dng -o DARK.dng --camera C --iso I
  --ratio R --seed S``. Condition ISO ``"scene"``: the ISO of the image's SID scene
  ("its scenes' ISO" of the issue's table).
* **Methods**: each ``--model NAME=PATH`` (default: ``default``, the packaged default model,
  no ``--model`` given to the CLI); ``bm3d`` and ``abm3d``
  (:mod:`expodiff.eval.baselines`) with K of the profile at the ISO and the read-noise std of
  the profile's parameters there (Tukey-lambda + row + 1/12 DN^2 of rounding); ``scaled`` (the
  dark frame times the ratio, clipped to [0, 1]).

Everything is cached in the work folder (default ``runs/heldout``): the DNGs, the enhanced
DNGs (``out/NAME-SHA/``) and one CSV per method (``results/METHOD.csv``, one row per file,
keyed by the weights' SHA-256 for the models), so an interrupted run continues where it
stopped and adding a model computes only that model. The report (Markdown tables per group
and camera: mean PSNR per method, the difference to BM3D and how many files each model wins
against it; totals) is printed and written to ``--out`` (default
``docs/benchmarks/heldout.md``) with the per-file results beside it (``heldout.csv``).

Usage (one thread on the shared 2-core machine, with the Makefile's ``GLIBC_TUNABLES``
exported, as in benchmarks/README.md)::

    .venv/bin/python benchmarks/heldout.py --threads 1 \\
        --model default --model unet-ed-h100=../shared/models/unet-ed-h100
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import os
import re
import subprocess
import sys
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# The held-out photos (file names in $EXPODIFF_DATA/clean/Photos), in the order --limit takes
# them: the photos held back from training (every 10th file by sorted name,
# expodiff.data.base.HOLDOUT_EVERY), which no training run uses ("Photos:train" is the
# rest); first those without the JPEG blocking noted in SOURCES.tsv. Checked by
# check_heldout_split() against the package's own split when it has one.
IMAGES: tuple[str, ...] = (
    "budgie_abstract-spiral.jpg",  # abstract, smooth gradients
    "budgie_piazza-gae-aulenti.jpg",  # city, architecture
    "enlightenment_Flower_Petals.jpg",  # macro, flower
    "enlightenment_Mossstring.jpg",  # texture, green
    "enlightenment_Windy_Palm.jpg",  # plant, sky
    "lxqt-themes_Valendas.jpg",  # village landscape
    "palapeli_panther-chameleon-female.jpg",  # animal, fine detail
    "plasma_summer_1am.jpg",  # night, low key
    "enlightenment_Shady_Leaves.jpg",  # leaves (source had JPEG blocking, downscaled 2x)
    "lomiri-16.04_Wine_by_Jakkub_Mede.jpg",  # still life (idem)
    "mate_Aqua.jpg",  # water (idem)
)

SCENE_META = "sid_meta/SID_test.info.json"
SCENE_ISO_RANGE = (800, 1600)  # the SID test scenes whose metadata the photos borrow


@dataclass(frozen=True)
class Condition:
    """One way of darkening: a group of the report, a camera profile, an ISO and a ratio."""

    group: str
    camera: str
    iso: int | str  # an ISO, or "scene": the ISO of the image's SID scene
    ratio: int


CONDITIONS: tuple[Condition, ...] = (
    Condition("moderate", "SonyA7S2", "scene", 100),
    Condition("moderate", "SonyA7S2", "scene", 200),
    Condition("moderate", "SonyA7S2", "scene", 300),
    Condition("moderate", "NikonD850", 1600, 100),
    Condition("harsh", "SonyA7S2", 6400, 100),
    Condition("harsh", "SonyA7S2", 6400, 300),
    Condition("harsh", "NikonD850", 3200, 200),
    Condition("harsh", "CanonEOS70D", 1600, 100),
    Condition("harsh", "CanonEOS70D", 6400, 200),
)
GROUPS = ("moderate", "harsh")
BASELINES = ("bm3d", "abm3d", "scaled")
DEFAULT_CROP = (512, 384)  # BM3D: ~40 s per 512 x 384 file on one thread
DEFAULT_OUT = ROOT / "docs" / "benchmarks" / "heldout.md"
FIELDS = (
    "file", "image", "group", "camera", "iso", "ratio", "system_gain", "read_std",
    "psnr", "seconds", "stamp",
)  # fmt: skip
TUNABLES = "glibc.malloc.mmap_threshold=4294967296:glibc.malloc.trim_threshold=68719476736"
ANALYSIS_START, ANALYSIS_END = "<!-- analysis -->", "<!-- /analysis -->"


@dataclass(frozen=True)
class HeldoutFile:
    """One dark DNG of the set and its clean reference."""

    name: str  # file stem
    image: str
    condition: Condition
    iso: int
    dark: Path
    clean: Path
    seed: int


def photo_parts(photos: Path) -> dict[str, str]:
    """The part (train / val / test) of every photo of ``photos``, as the package splits it."""
    from expodiff.data.base import list_files, set_part_of_index
    from expodiff.data.unprocess_dataset import IMAGE_SUFFIXES

    listed = list_files(photos, IMAGE_SUFFIXES, "image")
    return {p.name: set_part_of_index(i) for i, p in enumerate(listed)}


def check_heldout_split(images: Sequence[str], photos: Path, part: str) -> None:
    """Refuse images outside the ``Photos:PART`` part (``train`` photos are trained on)."""
    parts = photo_parts(photos)
    bad = sorted(i for i in images if parts.get(i) != part)
    if bad:
        raise SystemExit(f"heldout: {', '.join(bad)} are not of Photos:{part}")


def file_seed(name: str) -> int:
    """Seed of a dark file's noise: CRC-32 of its name (stable across runs and machines)."""
    return zlib.crc32(name.encode())


def _stem(image: str) -> str:
    return Path(image).stem


def scenes(data_root: Path) -> list[dict]:
    """The SID test scenes (metadata) of :data:`SCENE_ISO_RANGE`, by name."""
    entries = json.loads((data_root / SCENE_META).read_text())
    lo, hi = SCENE_ISO_RANGE
    chosen = sorted((e for e in entries if lo <= e["ISO"] <= hi), key=lambda e: e["name"])
    if not chosen:
        raise SystemExit(f"heldout: no scene of ISO {lo}-{hi} in {SCENE_META}")
    return chosen


# The photo list in use (IMAGES, or --images): a photo's index in it picks its scene.
_ORDER: list[str] = list(IMAGES)


def scene_for(image: str, scene_list: Sequence[dict]) -> dict:
    """The SID scene whose metadata a photo takes: scene ``i mod len`` for the i-th photo of
    the list in use (IMAGES, or --images)."""
    i = _ORDER.index(image) if image in _ORDER else file_seed(image)
    return scene_list[i % len(scene_list)]


def _brightness(image: str) -> float:
    import torch

    from expodiff.data.unprocess import BRIGHTNESS_MEAN, BRIGHTNESS_RANGE, BRIGHTNESS_STD

    g = torch.Generator().manual_seed(file_seed("brightness:" + image))
    value = BRIGHTNESS_MEAN + BRIGHTNESS_STD * float(torch.randn(1, generator=g))
    return min(max(value, BRIGHTNESS_RANGE[0]), BRIGHTNESS_RANGE[1])


def _centre_crop_srgb(path: Path, crop: tuple[int, int]):
    import numpy as np
    import torch
    from PIL import Image

    w, h = crop
    with Image.open(path) as im:
        rgb = np.asarray(im.convert("RGB"))
    H, W = rgb.shape[:2]
    if W < w or H < h:
        raise SystemExit(f"heldout: {path.name} is {W} x {H}, smaller than the crop {w} x {h}")
    x0, y0 = ((W - w) // 2) // 2 * 2, ((H - h) // 2) // 2 * 2
    window = rgb[y0 : y0 + h, x0 : x0 + w]
    return torch.from_numpy(np.ascontiguousarray(window)).permute(2, 0, 1).float() / 255.0


def make_clean(image: str, scene: dict, profile, crop: tuple[int, int], path: Path) -> None:
    """Unprocess a photo's centre crop to a clean 16-bit DNG on ``profile``'s levels."""
    import numpy as np

    from expodiff.data.unprocess import unprocess
    from expodiff.io.dng import write_frame_dng
    from expodiff.io.frame import frame_from_mosaic
    from expodiff.raw import CFAPattern, unpack
    from expodiff.sensor import SensorSpec

    cfa = CFAPattern.RGGB
    srgb = _centre_crop_srgb(_photos_dir() / image, crop)
    packed = unprocess(
        srgb,
        colour_matrix=scene["ccm"],
        white_balance=scene["wb"],
        brightness=_brightness(image),
        cfa=cfa,
    )
    sensor = SensorSpec.uniform(profile.black_level, profile.white_level, cfa)
    mosaic = sensor.denormalize_mosaic(unpack(packed, cfa)).numpy()
    mosaic = np.clip(np.rint(mosaic), 0, sensor.white_level).astype(np.uint16)
    frame = frame_from_mosaic(
        mosaic,
        sensor,
        white_balance=tuple(scene["wb"]),
        colour_matrix=np.asarray(scene["ccm"], dtype=np.float64),
        make="expodiff",
        model="unprocessed photo",
        iso=float(scene["ISO"]),
        exposure_time=Fraction(1, 1),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    write_frame_dng(path, frame, overwrite=True)


def _photos_dir() -> Path:
    from expodiff.paths import data_root

    return data_root() / "clean" / "Photos"


# How the dark files are made: "bias-free" darkens with ELD noise without the colour bias (the
# black level of the file is the true one); "biased" adds ELD's per-channel black-level error,
# which the learned models were trained to remove and the baselines are given (bias_dn).
VARIANTS = ("bias-free", "biased")


def set_dir(workdir: Path, crop: tuple[int, int], variant: str) -> Path:
    """The folder of one variant's files (the biased set keeps its earlier name)."""
    tag = "" if variant == "biased" else f"{variant}-"
    return workdir / f"set-{tag}{crop[0]}x{crop[1]}"


def results_dir(workdir: Path, variant: str) -> Path:
    return workdir / ("results" if variant == "biased" else f"results-{variant}")


def build_set(
    workdir: Path,
    images: Sequence[str],
    conditions: Sequence[Condition],
    crop: tuple[int, int],
    log=print,
    variant: str = "bias-free",
) -> list[HeldoutFile]:
    """The dark DNGs and clean references (made when missing, else reused)."""
    import torch

    from expodiff.inference.darken import darken_frame
    from expodiff.inference.gain import resolve_camera_profile
    from expodiff.io.dng import write_frame_dng
    from expodiff.io.rawio import read_raw
    from expodiff.kinds import NoisePreset
    from expodiff.paths import data_root

    base = set_dir(workdir, crop, variant)
    preset = NoisePreset.ELD_BIAS if variant == "biased" else NoisePreset.ELD
    scene_list = scenes(data_root())
    files: list[HeldoutFile] = []
    made = 0
    for image in images:
        scene = scene_for(image, scene_list)
        for cond in conditions:
            profile = resolve_camera_profile(cond.camera)
            iso = int(scene["ISO"]) if cond.iso == "scene" else int(cond.iso)
            name = f"{_stem(image)}__{cond.camera}-iso{iso}-x{cond.ratio}"
            clean = base / "clean" / f"{_stem(image)}__{cond.camera}.dng"
            dark = base / "dark" / f"{name}.dng"
            seed = file_seed(name)
            if not clean.is_file():
                make_clean(image, scene, profile, crop, clean)
            if not dark.is_file():
                frame = darken_frame(
                    read_raw(clean),
                    ratio=cond.ratio,
                    profile=profile,
                    iso=iso,
                    preset=preset,
                    generator=torch.Generator().manual_seed(seed),
                )
                dark.parent.mkdir(parents=True, exist_ok=True)
                write_frame_dng(dark, frame, overwrite=True)
                made += 1
            files.append(HeldoutFile(name, image, cond, iso, dark, clean, seed))
    log(f"heldout: {len(files)} dark DNGs in {base} ({made} made now)")
    return files


# ------------------------------------------------------------------------------ methods
def model_stamp(path: Path | None, args: Sequence[str] = ()) -> str:
    """SHA-256 (first 16 hex digits) of a model folder's weights (None: the packaged default),
    then of its config.yaml (8 digits), and of the extra ``expodiff enhance`` arguments when
    there are any."""
    from expodiff.inference.model_loading import packaged_model_path
    from expodiff.io.modelfiles import file_sha256

    folder = packaged_model_path() if path is None else Path(path)
    weights = sorted(folder.glob("*.safetensors")) + sorted(folder.glob("*.pt"))
    if not weights:
        raise SystemExit(f"heldout: no weights (*.safetensors, *.pt) in {folder}")
    stamp = file_sha256(weights[0])[:16]
    config = folder / "config.yaml"
    if config.is_file():  # the config says how the weights are run (steps, rules)
        stamp += "-" + file_sha256(config)[:8]
    if args:
        stamp += "-" + hashlib.sha256(" ".join(args).encode()).hexdigest()[:8]
    return stamp


def model_args(specs: Sequence[str], models: dict[str, Path | None]) -> dict[str, list[str]]:
    """``NAME=ARGS`` -> {name: extra expodiff enhance arguments of that model}."""
    import shlex

    out: dict[str, list[str]] = {}
    for spec in specs:
        name, sep, text = spec.partition("=")
        if not sep or name not in models:
            raise SystemExit(f"heldout: --model-args {spec!r}: NAME=ARGS of a --model NAME")
        out.setdefault(name, []).extend(shlex.split(text))
    return out


def parse_models(specs: Sequence[str]) -> dict[str, Path | None]:
    """``NAME=PATH``, ``default`` (the packaged default model: None) or the name of another
    packaged model (``fast``: its folder) -> {name: path or None}."""
    models: dict[str, Path | None] = {}
    for spec in specs or ["default"]:
        name, sep, path = spec.partition("=")
        if not name or name in BASELINES or not re.fullmatch(r"[\w.+-]+", name):
            raise SystemExit(f"heldout: bad --model {spec!r} (NAME=PATH; NAME not a baseline)")
        if sep:
            models[name] = Path(path).resolve()
        elif name == "default":
            models[name] = None
        else:  # another packaged model by its name (e.g. fast)
            from expodiff.inference.model_loading import packaged_model_names, packaged_model_path

            if name not in packaged_model_names():
                raise SystemExit(f"heldout: --model {name}: no packaged model of that name")
            models[name] = packaged_model_path(name)
        if sep and not Path(path).is_dir():
            raise SystemExit(f"heldout: --model {spec}: {path} is not a folder")
    return models


def _read_csv(path: Path) -> dict[str, dict]:
    if not path.is_file():
        return {}
    with open(path, newline="") as f:
        return {row["file"]: row for row in csv.DictReader(f)}


def _append_rows(path: Path, rows: Sequence[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.is_file()
    with open(path, "a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS)
        if new:
            writer.writeheader()
        writer.writerows(rows)
        f.flush()
        os.fsync(f.fileno())


def noise_level(camera: str, iso: int) -> tuple[float, float]:
    """(K, read-noise std) in DN on the profile's scale: the true level of the dark files."""
    from expodiff.inference.gain import resolve_camera_profile
    from expodiff.kinds import PRESET_COMPONENTS, NoisePreset
    from expodiff.noise.model import NoiseModel
    from expodiff.noise.params import read_noise_std

    profile = resolve_camera_profile(camera)
    components = PRESET_COMPONENTS[NoisePreset.ELD_BIAS]  # with quantisation: files are rounded
    model = NoiseModel(
        components, [profile], full_scale_dn=profile.full_scale_dn,
        black_level_dn=profile.black_level,
    )  # fmt: skip
    params = model.params_for_iso(float(iso), profile)
    return float(params.system_gain[0]), read_noise_std(params, 0, components)


def bias_dn(camera: str, iso: int) -> list[float]:
    """The colour bias (DN per packed channel) the biased files carry at ``iso``."""
    from expodiff.inference.gain import resolve_camera_profile
    from expodiff.kinds import PRESET_COMPONENTS, NoisePreset
    from expodiff.noise.model import NoiseModel

    profile = resolve_camera_profile(camera)
    model = NoiseModel(
        PRESET_COMPONENTS[NoisePreset.ELD_BIAS], [profile], full_scale_dn=profile.full_scale_dn,
        black_level_dn=profile.black_level,
    )  # fmt: skip
    return [float(v) for v in model.params_for_iso(float(iso), profile).colour_bias[0]]


def _row(f: HeldoutFile, value: float, seconds: float, stamp: str) -> dict:
    k, read_std = noise_level(f.condition.camera, f.iso)
    return {
        "file": f.name, "image": f.image, "group": f.condition.group,
        "camera": f.condition.camera, "iso": f.iso, "ratio": f.condition.ratio,
        "system_gain": f"{k:.6g}", "read_std": f"{read_std:.6g}", "psnr": f"{value:.4f}",
        "seconds": "" if seconds is None or math.isnan(seconds) else f"{seconds:.2f}",
        "stamp": stamp,
    }  # fmt: skip


def _reference(f: HeldoutFile):
    from expodiff.io.rawio import read_raw

    return read_raw(f.clean).packed_norm().clamp(0.0, 1.0)


def run_baseline(
    method: str,
    files: Sequence[HeldoutFile],
    csv_path: Path,
    threads: int,
    log,
    variant: str = "bias-free",
):
    """BM3D / A-BM3D with the true noise level, or the scaled input; cached per file.

    On the biased variant every baseline is given the true black level (the file's black
    level plus the colour bias), as the learned models learn it.
    """
    from importlib.metadata import version

    import bm3d
    import torch

    from expodiff.eval.baselines import abm3d_denoise, bm3d_denoise, scaled_input
    from expodiff.eval.metrics import psnr
    from expodiff.io.rawio import read_raw

    stamp = f"{method}-bm3d{version('bm3d')}" if method != "scaled" else method
    done = {k: r for k, r in _read_csv(csv_path).items() if r["stamp"] == stamp}
    for f in files:
        if f.name in done:
            continue
        t0 = time.perf_counter()
        clean = _reference(f)
        dark = read_raw(f.dark)
        noisy = dark.packed_norm()
        if variant == "biased":
            # packed planes are in the canonical (R, Gr, B, Gb) order of the bias
            span = torch.tensor([dark.sensor.white_level - b for b in dark.sensor.black_level])
            bias = torch.tensor(bias_dn(f.condition.camera, f.iso)) / span
            noisy = noisy - bias.view(-1, 1, 1).to(noisy.dtype)
        noisy = noisy * float(f.condition.ratio)
        if method == "scaled":
            estimate = scaled_input(noisy)
        else:
            k, read_std = noise_level(f.condition.camera, f.iso)
            profile = bm3d.BM3DProfile()
            profile.num_threads = threads
            fn = bm3d_denoise if method == "bm3d" else abm3d_denoise
            estimate = fn(
                noisy, exposure_ratio=float(f.condition.ratio), system_gain=k,
                read_std=read_std, profile=profile,
            )  # fmt: skip
        seconds = time.perf_counter() - t0
        row = _row(f, psnr(estimate.to(torch.float32), clean), seconds, stamp)
        _append_rows(csv_path, [row])
        log(f"  {method:>8} {f.name}: {float(row['psnr']):.2f} dB ({seconds:.1f} s)")


_SUMMARY = re.compile(r"^(?P<src>.+?\.dng) -> .*?(?P<sec>[\d.]+) s$")


def run_model(
    name: str,
    path: Path | None,
    files: Sequence[HeldoutFile],
    workdir: Path,
    csv_path: Path,
    threads: int,
    chunk: int,
    extra_args: Sequence[str],
    log,
) -> None:
    """``expodiff enhance`` (a subprocess per ratio and chunk) and PSNR of its DNGs."""
    from expodiff.eval.metrics import psnr
    from expodiff.io.rawio import read_raw

    stamp = model_stamp(path, extra_args)
    done = {k: r for k, r in _read_csv(csv_path).items() if r["stamp"] == stamp}
    out_dir = workdir / "out" / f"{name}-{stamp}"
    out_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[var] = str(threads)
    pending = [f for f in files if f.name not in done]
    by_ratio: dict[int, list[HeldoutFile]] = {}
    for f in pending:
        by_ratio.setdefault(f.condition.ratio, []).append(f)
    for ratio, group in sorted(by_ratio.items()):
        for start in range(0, len(group), chunk):
            part = group[start : start + chunk]
            todo = [f for f in part if not (out_dir / f"{f.name}.dng").is_file()]
            seconds: dict[str, float] = {}
            if todo:
                cmd = [sys.executable, "-m", "expodiff", "enhance", *(str(f.dark) for f in todo)]
                cmd += ["-o", str(out_dir), "--format", "dng", "--ratio", str(ratio)]
                cmd += ["--quiet", "--device", "cpu"]
                cmd += [] if path is None else ["--model", str(path)]
                cmd += list(extra_args)
                t0 = time.perf_counter()
                proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
                wall = time.perf_counter() - t0
                if proc.returncode != 0:
                    sys.stderr.write(proc.stdout + proc.stderr)
                    raise SystemExit(f"heldout: expodiff enhance failed ({proc.returncode})")
                for line in proc.stdout.splitlines():
                    m = _SUMMARY.match(line.strip())
                    if m:
                        seconds[Path(m["src"]).stem] = float(m["sec"])
                log(f"  {name}: enhance x{ratio}, {len(todo)} files, {wall:.1f} s wall")
            rows = []
            for f in part:
                out = out_dir / f"{f.name}.dng"
                if not out.is_file():
                    raise SystemExit(f"heldout: {out} was not written")
                value = psnr(read_raw(out).packed_norm().clamp(0.0, 1.0), _reference(f))
                rows.append(_row(f, value, seconds.get(f.name, math.nan), stamp))
                log(f"  {name:>8} {f.name}: {value:.2f} dB")
            _append_rows(csv_path, rows)


# ------------------------------------------------------------------------------ report
def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else math.nan


def _fmt(value: float, signed: bool = False) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{value:+.2f}" if signed else f"{value:.2f}"


def collect(files: Sequence[HeldoutFile], results: dict[str, dict[str, dict]]):
    """{method: {file: psnr}} restricted to the set's files."""
    names = {f.name for f in files}
    return {
        m: {k: float(r["psnr"]) for k, r in rows.items() if k in names}
        for m, rows in results.items()
    }


def _table(
    rows_spec: Sequence[tuple[str, list[HeldoutFile]]],
    scores: dict[str, dict[str, float]],
    models: Sequence[str],
    first: str,
) -> list[str]:
    methods = [*models, *BASELINES]
    head = [first, "files", *methods]
    for m in models:
        head += [f"{m} - BM3D", f"{m} wins"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for label, group in rows_spec:
        names = [f.name for f in group]
        means = {m: _mean([scores[m][n] for n in names if n in scores.get(m, {})]) for m in methods}
        cells = [label, str(len(names)), *(_fmt(means[m]) for m in methods)]
        for m in models:
            both = [n for n in names if n in scores.get(m, {}) and n in scores.get("bm3d", {})]
            diff = _mean([scores[m][n] - scores["bm3d"][n] for n in both])
            wins = sum(scores[m][n] > scores["bm3d"][n] for n in both)
            cells += [_fmt(diff, signed=True), f"{wins}/{len(both)}" if both else "-"]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def report_tables(
    files: Sequence[HeldoutFile], scores: dict[str, dict[str, float]], models: Sequence[str]
) -> str:
    """Markdown: per group a table by camera (+ all) and one by condition; the totals."""
    out: list[str] = []
    for group in GROUPS:
        gfiles = [f for f in files if f.condition.group == group]
        if not gfiles:
            continue
        cameras = list(dict.fromkeys(f.condition.camera for f in gfiles))
        spec = [(c, [f for f in gfiles if f.condition.camera == c]) for c in cameras]
        spec.append(("**all**", gfiles))
        out += [f"### {group}: mean PSNR (dB) by camera", ""]
        out += _table(spec, scores, models, "camera") + [""]

        spec = []
        for cond in dict.fromkeys(f.condition for f in gfiles):
            cfiles = [f for f in gfiles if f.condition == cond]
            isos = sorted({f.iso for f in cfiles})
            iso = str(isos[0]) if len(isos) == 1 else f"{isos[0]}-{isos[-1]}"
            if cond.iso == "scene":
                iso += " (the scenes')"
            spec.append((f"{cond.camera} ISO {iso} x{cond.ratio}", cfiles))
        out += [f"### {group}: by camera, ISO and ratio", ""]
        out += _table(spec, scores, models, "condition") + [""]
    spec = [(g, [f for f in files if f.condition.group == g]) for g in GROUPS]
    spec = [s for s in spec if s[1]] + [("**all**", list(files))]
    out += ["### totals", ""] + _table(spec, scores, models, "group") + [""]
    return "\n".join(out)


def timing_lines(results: dict[str, dict[str, dict]], files, models) -> list[str]:
    names = {f.name for f in files}
    lines = []
    for m in [*models, *BASELINES]:
        secs = [
            float(r["seconds"])
            for k, r in results.get(m, {}).items()
            if k in names and r["seconds"]
        ]
        if secs:
            lines.append(f"- `{m}`: {_mean(secs):.1f} s per file (mean of {len(secs)})")
    return lines


def write_csv(path: Path, files, results, models) -> None:
    names = {f.name for f in files}
    rows = []
    for m in [*models, *BASELINES]:
        for k, r in sorted(results.get(m, {}).items()):
            if k in names:
                rows.append({"method": m, **r})
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=("method", *FIELDS))
        writer.writeheader()
        writer.writerows(rows)


def _kept_analysis(path: Path) -> str:
    if path.is_file():
        text = path.read_text()
        if ANALYSIS_START in text and ANALYSIS_END in text:
            return text[text.index(ANALYSIS_START) : text.index(ANALYSIS_END) + len(ANALYSIS_END)]
    note = "(analysis: written by hand, kept when the report is regenerated)"
    return f"{ANALYSIS_START}\n{note}\n{ANALYSIS_END}"


def report_document(
    files,
    images,
    crop,
    models: dict[str, Path | None],
    extra: dict[str, list[str]],
    results,
    command: str,
    out: Path,
    part: str = "test",
    variant: str = "bias-free",
) -> str:
    from expodiff.paths import data_root

    scene_list = scenes(data_root())
    model_names = list(models)
    scores = collect(files, results)
    lines = [
        f"# Held-out benchmark: dark DNGs of photos never trained on (Photos:{part}, {variant})",
        "",
        "Generated by `benchmarks/heldout.py` (the method and the set are defined in its",
        "docstring); re-run with",
        "",
        "```bash",
        f"export GLIBC_TUNABLES={TUNABLES}",
        command,
        "```",
        "",
        "## The set",
        "",
        f"- **{len(images)} photos** of `clean/Photos`, centre crop {crop[0]} x {crop[1]} mosaic",
        (
            f"  pixels, of the `Photos:{part}` part (never trained on):"
            if not set(images) - set(IMAGES)
            else "  pixels, **not** the held-out list: valid only for models that never saw them:"
        ),
    ]
    for n, image in enumerate(images, 1):
        s = scene_for(image, scene_list)
        end = "." if n == len(images) else ";"
        lines.append(
            f"  `{image}` (SID scene {s['name']}, ISO {s['ISO']}, "
            f"brightness {_brightness(image):.3f}){end}"
        )
    conds = list(dict.fromkeys(f.condition for f in files))
    lo, hi = SCENE_ISO_RANGE
    lines += [
        "- unprocessed (`expodiff.data.unprocess`) with the white balance and colour matrix of",
        f"  the SID test scenes of ISO {lo}-{hi} (photo i: scene i mod {len(scene_list)}), RGGB,",
        "  written as clean 16-bit DNGs on the camera profile's levels;",
        "- darkened with `expodiff.inference.darken` ("
        + (
            "eld noise without the colour bias, so the file's black level is the true one"
            if variant == "bias-free"
            else "eld+bias noise: with ELD's colour bias, a black-level error the baselines are"
            " given, as the learned models learn it"
        )
        + " of the camera profile,",
        f"  seeded by the CRC-32 of the file name) into **{len(files)} dark DNGs**,",
        f"  {len(conds)} conditions per photo:",
    ]
    for g in GROUPS:
        cs = [c for c in conds if c.group == g]
        if cs:
            desc = ", ".join(
                f"{c.camera} ISO {'of the scene' if c.iso == 'scene' else c.iso} x{c.ratio}"
                for c in cs
            )
            lines.append(f"  - *{g}*: {desc};")
    described = ", ".join(
        f"`{m}` ({'the packaged default model' if p is None else p.name}"
        + (f" with `{' '.join(extra[m])}`" if extra[m] else "")
        + f", weights SHA-256 {model_stamp(p)[:16]}...)"
        for m, p in models.items()
    )
    lines += [
        f"- methods: {described} through `expodiff enhance --ratio R` (its own defaults",
        "  otherwise); `bm3d` and `abm3d` with the true noise level (K and read-noise std of the",
        "  profile at the ISO); `scaled`: the dark frame x R. PSNR on the packed raw_norm",
        "  against the clean reference.",
        "",
        "## Results",
        "",
        report_tables(files, scores, model_names),
        "Time per file on this machine (1 thread; models: the CLI's own per-file time):",
        "",
        *timing_lines(results, files, model_names),
        "",
        f"Per-file results: [{out.with_suffix('.csv').name}]({out.with_suffix('.csv').name}).",
        "",
        _kept_analysis(out),
        "",
    ]
    return "\n".join(lines)


# ------------------------------------------------------------------------------ main
def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--model", action="append", default=[], metavar="NAME=PATH",
        help="a model to run through expodiff enhance (repeatable); 'default' alone: the "
        "packaged default model (default: that one)",
    )  # fmt: skip
    p.add_argument("--workdir", type=Path, default=ROOT / "runs" / "heldout")
    p.add_argument(
        "--images", default=None, metavar="NAME,NAME",
        help="other photos of clean/Photos instead of the held-out list (a different set)",
    )  # fmt: skip
    p.add_argument(
        "--allow-train", action="store_true",
        help="accept photos of Photos:train (valid only for models that never saw Photos)",
    )  # fmt: skip
    p.add_argument(
        "--part", choices=("val", "test"), default="test",
        help="the Photos part whose photos are used: val (may choose recipes, checkpoints, "
        "thresholds) or test (only reported; the default)",
    )  # fmt: skip
    p.add_argument(
        "--variant", choices=VARIANTS, default="bias-free",
        help="bias-free: ELD noise without the colour bias; biased: with it, the baselines "
        "given the true black level",
    )  # fmt: skip
    p.add_argument("--limit", type=int, default=None, metavar="N", help="the first N images")
    p.add_argument("--crop", type=int, nargs=2, default=DEFAULT_CROP, metavar=("W", "H"))
    p.add_argument("--threads", type=int, default=1, help="threads of torch and BM3D")
    p.add_argument(
        "--only", action="append", default=[], metavar="GROUP|CAMERA",
        help="conditions of a group (moderate, harsh) or camera only (repeatable)",
    )  # fmt: skip
    p.add_argument(
        "--methods", default=None, metavar="M,M",
        help="the methods to compute (default: all models and baselines); the report shows "
        "whatever is cached",
    )  # fmt: skip
    p.add_argument("--chunk", type=int, default=8, help="files per expodiff enhance call")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="Markdown report ('-': none)")
    p.add_argument(
        "--model-args", action="append", default=[], metavar="NAME=ARGS",
        help="extra expodiff enhance arguments of one model (e.g. 'unet-s1=--steps 1'); the "
        "same folder can be given twice under two names with different arguments",
    )  # fmt: skip
    p.add_argument(
        "--enhance-arg", action="append", default=[], metavar="ARG",
        help="extra argument for expodiff enhance (repeatable; e.g. --enhance-arg=--steps=1)",
    )  # fmt: skip
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None, log=print) -> str:
    args = parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    models = parse_models(args.model)
    per_model = model_args(args.model_args, models)
    extra = {m: [*args.enhance_arg, *per_model.get(m, [])] for m in models}
    photos = tuple(args.images.split(",")) if args.images else IMAGES
    _ORDER[:] = photos
    if not args.images:
        parts = photo_parts(_photos_dir())
        photos = tuple(i for i in photos if parts.get(i) == args.part)
    images = photos[: args.limit] if args.limit else photos
    conditions = [c for c in CONDITIONS if not args.only or {c.group, c.camera} & set(args.only)]
    if not conditions:
        raise SystemExit(f"heldout: --only {args.only} selects no condition")
    crop = (int(args.crop[0]) // 2 * 2, int(args.crop[1]) // 2 * 2)
    if not args.allow_train:
        check_heldout_split(images, _photos_dir(), args.part)
    t0 = time.perf_counter()
    wanted = args.methods.split(",") if args.methods else [*models, *BASELINES]
    results = results_dir(args.workdir, args.variant)
    files: list[HeldoutFile] = []
    # image by image, every method: an interrupted run leaves whole images done by all methods
    for image in images:
        batch = build_set(args.workdir, [image], conditions, crop, log=log, variant=args.variant)
        files += batch
        for method in wanted:
            csv_path = results / f"{method}.csv"
            if method in models:
                run_model(
                    method, models[method], batch, args.workdir, csv_path, args.threads,
                    max(1, args.chunk), extra[method], log,
                )  # fmt: skip
            elif method in BASELINES:
                run_baseline(method, batch, csv_path, args.threads, log, args.variant)
            else:
                raise SystemExit(f"heldout: unknown method {method!r}")
        log(f"heldout: {image} done ({time.perf_counter() - t0:.0f} s)")
    csv_dir, results = results, {}
    for m in [m for m in [*models, *BASELINES] if m in wanted]:
        rows = _read_csv(csv_dir / f"{m}.csv")
        stamp = model_stamp(models[m], extra[m]) if m in models else None
        results[m] = {k: r for k, r in rows.items() if stamp is None or r["stamp"] == stamp}
    # the report compares methods on the same files: those every method with results has
    results = {m: r for m, r in results.items() if r}
    complete = [f for f in files if all(f.name in r for r in results.values())]
    if len(complete) < len(files):
        log(
            f"heldout: {len(files) - len(complete)} of {len(files)} files lack some method's "
            "result; the report shows the other files"
        )
    files = complete
    models = {m: p for m, p in models.items() if m in results}
    command = ".venv/bin/python benchmarks/heldout.py " + " ".join(
        [f"--threads {args.threads} --part {args.part} --variant {args.variant}"]
        + [
            f"--model {m}" if p is None else f"--model {m}={os.path.relpath(p, ROOT)}"
            for m, p in models.items()
        ]
        + ([f"--images {args.images}"] if args.images else [])
        + (["--allow-train"] if args.allow_train else [])
        + ([f"--limit {args.limit}"] if args.limit else [])
        + ([f"--crop {crop[0]} {crop[1]}"] if crop != DEFAULT_CROP else [])
        + [f"--only {o}" for o in args.only]
        + [f"--enhance-arg={a}" for a in args.enhance_arg]
        + [f"--model-args '{a}'" for a in args.model_args if a.partition("=")[0] in models]
    )
    text = report_document(
        files, images, crop, models, extra, results, command, args.out, args.part, args.variant
    )
    log(report_tables(files, collect(files, results), list(models)))
    log(f"heldout: {time.perf_counter() - t0:.0f} s")
    if str(args.out) != "-":
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
        write_csv(args.out.with_suffix(".csv"), files, results, list(models))
        log(f"heldout: wrote {args.out} and {args.out.with_suffix('.csv')}")
    return text


if __name__ == "__main__":
    main()
