#!/usr/bin/env python
"""Held-out quality of ``expodiff enhance`` on dark DNGs of photos never trained on.

The protocol is the package's (:mod:`expodiff.eval.heldout`: the photos, the conditions, the
dark DNGs; :mod:`expodiff.eval.heldout_methods`: a model through :func:`expodiff.enhance` at
each file's ratio, BM3D and A-BM3D given the true noise level, the scaled input). This driver
caches one CSV per method in the work folder (``results*/METHOD.csv``, one row per file,
keyed by the weights' SHA-256 for the models), so an interrupted run continues where it
stopped and adding a model computes only that model, and writes the report (Markdown tables
per group and camera: mean PSNR per method, the difference to BM3D and how many files each
model wins against it; totals) to ``--out`` with the per-file results beside it.

Usage (one thread on the shared 2-core machine, with the Makefile's ``GLIBC_TUNABLES``
exported, as in benchmarks/README.md)::

    .venv/bin/python benchmarks/heldout.py --threads 1 \\
        --model default --model unet-ed-h100=../shared/models/unet-ed-h100
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import time
from collections.abc import Sequence
from pathlib import Path

from expodiff.eval.heldout import (
    CONDITIONS,
    GROUPS,
    IMAGES,
    SCENE_ISO_RANGE,
    VARIANTS,
    Condition,
    HeldoutFile,
    brightness,
    build_set,
    check_heldout_split,
    photo_parts,
    photos_dir,
    scene_for,
    scenes,
)
from expodiff.eval.heldout_methods import (
    BASELINES,
    bias_dn,
    enhance_settings,
    measure_baseline,
    measure_model,
)
from expodiff.eval.heldout_report import (
    append_rows,
    collect,
    read_rows,
    report_tables,
    result_row,
    timing_lines,
    write_results_csv,
)

__all__ = ["Condition", "CONDITIONS", "IMAGES", "bias_dn", "check_heldout_split", "photo_parts"]

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CROP = (512, 384)  # BM3D: ~40 s per 512 x 384 file on one thread
DEFAULT_OUT = ROOT / "docs" / "benchmarks" / "heldout.md"
TUNABLES = "glibc.malloc.mmap_threshold=4294967296:glibc.malloc.trim_threshold=68719476736"
ANALYSIS_START, ANALYSIS_END = "<!-- analysis -->", "<!-- /analysis -->"


def results_dir(workdir: Path, variant: str) -> Path:
    return workdir / ("results" if variant == "biased" else f"results-{variant}")


def model_stamp(path: Path | None, args: Sequence[str] = ()) -> str:
    """SHA-256 (first 16 hex digits) of a model folder's weights (None: the packaged default),
    then of its config.yaml (8 digits), and of the extra enhance arguments when there are any."""
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


def run_baseline(method: str, files, csv_path: Path, threads: int, log, variant: str) -> None:
    """One of BASELINES on every file without a cached row."""
    from importlib.metadata import version

    stamp = f"{method}-bm3d{version('bm3d')}" if method != "scaled" else method
    done = {k for k, r in read_rows(csv_path).items() if r["stamp"] == stamp}
    for f in files:
        if f.name in done:
            continue
        value, seconds = measure_baseline(method, f, threads, variant)
        append_rows(csv_path, [result_row(f, value, seconds, stamp)])
        log(f"  {method:>8} {f.name}: {value:.2f} dB ({seconds:.1f} s)")


def run_model(name: str, path: Path | None, files, csv_path: Path, args, log) -> None:
    """``expodiff.enhance`` of every file without a cached row (the model loaded once)."""
    from expodiff.inference.model_loading import load_model

    stamp = model_stamp(path, args)
    done = {k for k, r in read_rows(csv_path).items() if r["stamp"] == stamp}
    pending = [f for f in files if f.name not in done]
    if not pending:
        return
    model = load_model(path, device="cpu")
    settings = enhance_settings(args)
    t0 = time.perf_counter()
    for f in pending:
        value, seconds = measure_model(model, f, settings)
        append_rows(csv_path, [result_row(f, value, seconds, stamp)])
        log(f"  {name:>8} {f.name}: {value:.2f} dB")
    log(f"  {name}: enhance x{pending[0].condition.ratio}.., {len(pending)} files, "
        f"{time.perf_counter() - t0:.1f} s")  # fmt: skip


def _kept_analysis(path: Path) -> str:
    if path.is_file():
        text = path.read_text()
        if ANALYSIS_START in text and ANALYSIS_END in text:
            return text[text.index(ANALYSIS_START) : text.index(ANALYSIS_END) + len(ANALYSIS_END)]
    note = "(analysis: written by hand, kept when the report is regenerated)"
    return f"{ANALYSIS_START}\n{note}\n{ANALYSIS_END}"


def _set_lines(files, images, crop, part: str, variant: str) -> list[str]:
    """The report's description of the set: photos, unprocessing, darkening, conditions."""
    from expodiff.paths import data_root

    scene_list = scenes(data_root())
    held_out = not set(images) - set(IMAGES)
    lines = [
        f"- **{len(images)} photos** of `clean/Photos`, centre crop {crop[0]} x {crop[1]} mosaic",
        f"  pixels, of the `Photos:{part}` part (never trained on):"
        if held_out
        else "  pixels, **not** the held-out list: valid only for models that never saw them:",
    ]
    for n, image in enumerate(images, 1):
        s = scene_for(image, scene_list, images)
        end = "." if n == len(images) else ";"
        lines.append(
            f"  `{image}` (SID scene {s['name']}, ISO {s['ISO']}, "
            f"brightness {brightness(image):.3f}){end}"
        )
    conds = list(dict.fromkeys(f.condition for f in files))
    lo, hi = SCENE_ISO_RANGE
    noise = (
        "eld noise without the colour bias, so the file's black level is the true one"
        if variant == "bias-free"
        else "eld+bias noise: with ELD's colour bias, a black-level error the baselines are"
        " given, as the learned models learn it"
    )
    lines += [
        "- unprocessed (`expodiff.data.unprocess`) with the white balance and colour matrix of",
        f"  the SID test scenes of ISO {lo}-{hi} (photo i: scene i mod {len(scene_list)}), RGGB,",
        "  written as clean 16-bit DNGs on the camera profile's levels;",
        f"- darkened with `expodiff.inference.darken` ({noise} of the camera profile,",
        f"  seeded by the CRC-32 of the file name) into **{len(files)} dark DNGs**,",
        f"  {len(conds)} conditions per photo:",
    ]
    for g in GROUPS:
        if cs := [c for c in conds if c.group == g]:
            desc = ", ".join(
                f"{c.camera} ISO {'of the scene' if c.iso == 'scene' else c.iso} x{c.ratio}"
                for c in cs
            )
            lines.append(f"  - *{g}*: {desc};")
    return lines


def report_document(files, images, crop, models, extra, results, command, out, part, variant):
    """The Markdown report: how to re-run it, the set, the methods, the tables, the timings,
    and the hand-written analysis kept from the previous report at ``out``."""
    described = ", ".join(
        f"`{m}` ({'the packaged default model' if p is None else p.name}"
        + (f" with `{' '.join(extra[m])}`" if extra[m] else "")
        + f", weights SHA-256 {model_stamp(p)[:16]}...)"
        for m, p in models.items()
    )
    csv_name = out.with_suffix(".csv").name
    lines = [
        f"# Held-out benchmark: dark DNGs of photos never trained on (Photos:{part}, {variant})",
        "",
        "Generated by `benchmarks/heldout.py` (the protocol: `expodiff.eval.heldout`); re-run",
        "with",
        "",
        "```bash",
        f"export GLIBC_TUNABLES={TUNABLES}",
        command,
        "```",
        "",
        "## The set",
        "",
        *_set_lines(files, images, crop, part, variant),
        f"- methods: {described} through `expodiff.enhance(file, ratio=R)` (the code of",
        "  `expodiff enhance --ratio R`, its own defaults otherwise); `bm3d` and `abm3d` with",
        "  the true noise level (K and read-noise std of the profile at the ISO); `scaled`: the",
        "  dark frame x R. PSNR on the packed raw_norm against the clean reference.",
        "",
        "## Results",
        "",
        report_tables(files, collect(files, results), list(models)),
        "Time per file on this machine (1 thread; models: the enhancement's own time):",
        "",
        *timing_lines(results, files, list(models)),
        "",
        f"Per-file results: [{csv_name}]({csv_name}).",
        "",
        _kept_analysis(out),
        "",
    ]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--model", action="append", default=[], metavar="NAME=PATH",
        help="a model to run through expodiff.enhance (repeatable); 'default' alone: the "
        "packaged default model (default: that one)",
    )  # fmt: skip
    p.add_argument("--workdir", type=Path, default=ROOT / "runs" / "heldout")
    p.add_argument("--images", metavar="NAME,NAME", help="other photos of clean/Photos")
    p.add_argument("--allow-train", action="store_true", help="accept photos of Photos:train")
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
    p.add_argument("--limit", type=int, metavar="N", help="the first N images")
    p.add_argument("--crop", type=int, nargs=2, default=DEFAULT_CROP, metavar=("W", "H"))
    p.add_argument("--threads", type=int, default=1, help="threads of torch and BM3D")
    p.add_argument("--only", action="append", default=[], metavar="GROUP|CAMERA")
    p.add_argument("--methods", metavar="M,M", help="compute only these (the report: all cached)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="Markdown report ('-': none)")
    p.add_argument(
        "--model-args", action="append", default=[], metavar="NAME=ARGS",
        help="enhance settings of one model (--steps, --consistency, --samples, --tile, --seed; "
        "e.g. 'unet-s1=--steps 1'); a folder may be given twice under two names",
    )  # fmt: skip
    p.add_argument(
        "--enhance-arg", action="append", default=[], metavar="ARG",
        help="an enhance setting for every model (repeatable; e.g. --enhance-arg=--steps=1)",
    )  # fmt: skip
    return p.parse_args(argv)


def _images(args) -> tuple[str, ...]:
    """The photos of this run: the held-out list's ``--part`` (or ``--images``), limited."""
    photos = tuple(args.images.split(",")) if args.images else IMAGES
    if not args.images:
        parts = photo_parts(photos_dir())
        photos = tuple(i for i in photos if parts.get(i) == args.part)
    images = photos[: args.limit] if args.limit else photos
    if not args.allow_train:
        check_heldout_split(images, photos_dir(), args.part)
    return images


def _measure(args, images, conditions, crop, models, extra, wanted, log) -> list[HeldoutFile]:
    """Image by image, every method (an interrupted run leaves whole images done)."""
    t0 = time.perf_counter()
    results = results_dir(args.workdir, args.variant)
    files: list[HeldoutFile] = []
    for image in images:
        batch = build_set(
            args.workdir, [image], conditions, crop, log=log, variant=args.variant, order=images
        )
        files += batch
        for method in wanted:
            csv_path = results / f"{method}.csv"
            if method in models:
                run_model(method, models[method], batch, csv_path, extra[method], log)
            else:
                run_baseline(method, batch, csv_path, args.threads, log, args.variant)
        log(f"heldout: {image} done ({time.perf_counter() - t0:.0f} s)")
    return files


def _cached_results(args, models, extra, wanted) -> dict[str, dict[str, dict]]:
    """{method: {file: row}} of the wanted methods' CSVs (models: rows of these weights only)."""
    folder, results = results_dir(args.workdir, args.variant), {}
    for m in [m for m in [*models, *BASELINES] if m in wanted]:
        rows = read_rows(folder / f"{m}.csv")
        stamp = model_stamp(models[m], extra[m]) if m in models else None
        results[m] = {k: r for k, r in rows.items() if stamp is None or r["stamp"] == stamp}
    return {m: r for m, r in results.items() if r}


def _command(args, crop, models) -> str:
    """The command line that regenerates this report."""
    return ".venv/bin/python benchmarks/heldout.py " + " ".join(
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


def main(argv: Sequence[str] | None = None, log=print) -> str:
    args = parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    models = parse_models(args.model)
    per_model = model_args(args.model_args, models)
    extra = {m: [*args.enhance_arg, *per_model.get(m, [])] for m in models}
    images = _images(args)
    conditions = [c for c in CONDITIONS if not args.only or {c.group, c.camera} & set(args.only)]
    if not conditions:
        raise SystemExit(f"heldout: --only {args.only} selects no condition")
    crop = (int(args.crop[0]) // 2 * 2, int(args.crop[1]) // 2 * 2)
    wanted = args.methods.split(",") if args.methods else [*models, *BASELINES]
    if unknown := [m for m in wanted if m not in models and m not in BASELINES]:
        raise SystemExit(f"heldout: unknown method {unknown[0]!r}")
    files = _measure(args, images, conditions, crop, models, extra, wanted, log)
    # the report compares methods on the same files: those every method with results has
    results = _cached_results(args, models, extra, wanted)
    complete = [f for f in files if all(f.name in r for r in results.values())]
    if missing := len(files) - len(complete):
        log(f"heldout: {missing} of {len(files)} files lack a method's result; not reported")
    files, models = complete, {m: p for m, p in models.items() if m in results}
    text = report_document(
        files, images, crop, models, extra, results, _command(args, crop, models), args.out,
        args.part, args.variant,
    )  # fmt: skip
    log(report_tables(files, collect(files, results), list(models)))
    log(f"heldout: {time.perf_counter() - t0:.0f} s")
    if str(args.out) != "-":
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
        write_results_csv(args.out.with_suffix(".csv"), files, results, list(models))
        log(f"heldout: wrote {args.out} and {args.out.with_suffix('.csv')}")
    return text


if __name__ == "__main__":
    main()
