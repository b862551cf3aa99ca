"""``expodiff enhance``: dark raw files in, clean well-exposed images out (the main job)."""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

from ..defaults import STAGED_TILE, TILE
from ..errors import ExpodiffError, OutputFileError
from ..inference.limits import MAX_RATIO, MAX_SAMPLES, MAX_STEPS, MIN_RATIO
from .arguments import (
    cfa_pattern,
    exposure_ratio,
    integer_at_least,
    non_negative_float,
    output_format,
    positive_float,
    seed,
    views_choice,
)

# The summary of an output that appeared while this run was working on it.
_WRITTEN_MEANWHILE = "skipped: written meanwhile by another run"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "enhance",
        help="enhance dark raw photos: clean, well-exposed PNG/TIFF/DNG (the main job)",
        description=(
            "Brighten and denoise dark camera raw files with ExposureDiffusion. INPUT: raw "
            "files or folders of them. OUT: a file (one input; .png, .tif/.tiff or .dng picks "
            "the format) or a folder (outputs keep the input file names; --format picks the "
            "format). Existing outputs are never replaced without --overwrite; in a folder "
            "they are skipped, so re-running an interrupted run finishes it."
        ),
        epilog="See docs/enhance.md for the ratio, noise level (K) and model options.",
    )
    _add_file_arguments(p)
    _add_exposure_arguments(p)
    _add_sampling_arguments(p)
    _add_mosaic_arguments(p)
    p.set_defaults(func=run)


def _add_file_arguments(p: argparse.ArgumentParser) -> None:
    """Inputs, the output, its format, and what may be replaced or printed."""
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="raw file or folder of raw files")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="output file or folder")
    p.add_argument(
        "--format",
        type=output_format,
        default=None,
        metavar="{png,tif,dng}",
        help="output format of a folder OUT (default png)",
    )
    p.add_argument(
        "--bits",
        type=int,
        choices=(8, 16),
        default=None,
        help="bits per sample of PNG/TIFF (default: 8 for PNG, 16 for TIFF); DNG is 16-bit",
    )
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.add_argument(
        "--quiet",
        action="store_true",
        help="no progress bars (they are shown only when stderr is a terminal; the one-line "
        "summaries and warnings are always printed)",
    )


def _add_exposure_arguments(p: argparse.ArgumentParser) -> None:
    """How much brighter (the ratio) and how noisy (K) the input is."""
    p.add_argument(
        "--ratio",
        type=exposure_ratio,
        default="auto",
        metavar="auto|N",
        help=f"exposure ratio to brighten by, {MIN_RATIO:g} to {MAX_RATIO:g} (default auto: from "
        "--target-exposure and EXIF, else from the image's brightness)",
    )
    p.add_argument(
        "--target-exposure",
        type=positive_float,
        default=None,
        metavar="SECONDS",
        help="auto ratio: the exposure time wanted; ratio = T x ISO_target / (t x ISO)",
    )
    p.add_argument(
        "--target-iso",
        type=positive_float,
        default=None,
        metavar="ISO",
        help="auto ratio with --target-exposure: the ISO wanted (default: the file's)",
    )
    p.add_argument(
        "--system-gain",
        type=positive_float,
        default=None,
        metavar="K",
        help="system gain K in DN per electron of the raw file's own DN (default: the "
        "camera profile at the file's ISO, else estimated from the image with darktable's "
        "installed noise profile as a prior)",
    )
    p.add_argument(
        "--camera",
        default=None,
        metavar="PROFILE",
        help="camera noise profile for K: a packaged name (expodiff profiles) or a .json from "
        "expodiff calibrate (default: matched from the file's make and model)",
    )


def _add_sampling_arguments(p: argparse.ArgumentParser) -> None:
    """The sampler: steps, consistency, samples, views, seed, model, device, tiling."""
    p.add_argument(
        "--steps",
        type=integer_at_least(1, MAX_STEPS, "each step runs the network on the whole frame"),
        default=None,
        metavar="S",
        help=f"network evaluations, 1 to {MAX_STEPS} (default: the model's)",
    )
    p.add_argument(
        "--consistency",
        type=non_negative_float,
        default=None,
        metavar="SIGMA",
        help="keep the input's low frequencies (Gaussian sigma in packed pixels) in every "
        "prediction; 0: off (default: the model's)",
    )
    p.add_argument(
        "--samples",
        type=integer_at_least(1, MAX_SAMPLES, "each sample runs the whole enhancement"),
        default=1,
        metavar="N",
        help=f"average N stochastic trajectories, 1 to {MAX_SAMPLES}, and write "
        "NAME.uncertainty.png (per-pixel standard deviation) beside each output (default 1)",
    )
    p.add_argument(
        "--views",
        type=views_choice,
        default=None,
        metavar="N",
        help="average the network over N flipped/transposed views of the input in every "
        "evaluation (geometric self-ensemble): 1, 2, 4 or 8; each view costs one evaluation "
        "(default: as many as the model's diffusion.inference_evaluations allows, steps x views "
        "within it; 1 without one)",
    )
    p.add_argument(
        "--seed", type=seed, default=0, metavar="N", help="random seed, 0 to 2**64 - 1 (default 0)"
    )
    p.add_argument(
        "--model",
        default=None,
        metavar="NAME|PATH",
        help="a packaged model by name (default) or a model folder from expodiff train "
        "(default: the packaged default model)",
    )
    p.add_argument(
        "--device",
        default="auto",
        metavar="{auto,cpu,cuda}",
        help="where to run: auto (CUDA when available), cpu, cuda or cuda:N",
    )
    p.add_argument(
        "--tile",
        type=integer_at_least(0),
        default=None,
        metavar="N",
        help=f"evaluate the network in N x N tiles of packed pixels when a side of the frame "
        f"is larger than N (default: {TILE}, {STAGED_TILE} for a staged model; 0: never tile; "
        "at least 64)",
    )


def _add_mosaic_arguments(p: argparse.ArgumentParser) -> None:
    """Inputs that are mosaics stored as plain images."""
    group = p.add_argument_group(
        "mosaics stored as plain images",
        "read the inputs as single-channel PNG/TIFF/PGM mosaics instead of raw files",
    )
    group.add_argument(
        "--cfa",
        type=cfa_pattern,
        metavar="PATTERN",
        help="their CFA layout: RGGB, BGGR, GRBG, GBRG",
    )
    group.add_argument(
        "--black-level", type=float, nargs="+", metavar="DN", help="1 or 4 values; default 0"
    )
    group.add_argument(
        "--white-level", type=float, metavar="DN", help="default: the image's bit-depth maximum"
    )


def _read(path: Path, args: argparse.Namespace, report):
    from ..io.rawio import read_raw

    black = args.black_level
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frame = read_raw(
            path,
            cfa=args.cfa,
            black_level=None if black is None else (black[0] if len(black) == 1 else black),
            white_level=args.white_level,
        )
    for warning in caught:
        report(f"expodiff: warning: {warning.message}")
    return frame


def _check_options(args: argparse.Namespace) -> None:
    if args.cfa is None and (args.black_level is not None or args.white_level is not None):
        raise ExpodiffError("--black-level and --white-level need --cfa (a stored mosaic)")
    if args.black_level is not None and len(args.black_level) not in (1, 4):
        raise ExpodiffError(f"--black-level takes 1 or 4 values, got {len(args.black_level)}")
    if args.target_iso is not None and args.target_exposure is None:
        raise ExpodiffError("--target-iso needs --target-exposure")
    if args.ratio != "auto" and args.target_exposure is not None:
        raise ExpodiffError("--target-exposure sets the ratio; do not give --ratio as well")
    from ..inference.trajectories import MIN_TILE

    if args.tile is not None and 0 < args.tile < MIN_TILE:
        raise ExpodiffError(f"--tile must be 0 (no tiling) or >= {MIN_TILE}, got {args.tile}")


def run(args: argparse.Namespace) -> int:
    """Enhance the inputs; under torchrun, this rank's share of them (:mod:`..enhance.ranks`)."""
    from ..inference.pipeline import OutputFormat, collect_inputs, plan_jobs
    from ..inference.ranks import FolderCounts, rank_info, share, total_counts

    ranks = rank_info()
    _check_options(args)
    inputs = collect_inputs(args.inputs)
    jobs, single = plan_jobs(
        inputs, args.output, fmt=args.format, samples=args.samples, overwrite=args.overwrite
    )
    if args.bits is not None and any(job.fmt is OutputFormat.DNG for job in jobs):
        raise OutputFileError(f"{args.output}: --bits is for PNG/TIFF; a DNG is 16-bit")
    # The share is taken of all jobs, not of the pending ones: ranks check what exists at
    # different moments, while the planned jobs are the same on every rank.
    mine = share(jobs, ranks)
    pending = [job for job in mine if args.overwrite or not job.done()]
    for job in mine:
        if job not in pending:
            line = f"{job.source} -> {job.output}: exists, skipped (--overwrite to redo)"
            # flushed: one line per write (the ranks of torchrun share stdout)
            print(f"{ranks.prefix}{line}", flush=True)
    failures, meanwhile = _enhance_jobs(pending, args, single, ranks) if pending else (0, 0)
    counts = FolderCounts(
        len(pending) - failures - meanwhile, len(mine) - len(pending) + meanwhile, failures
    )
    total = total_counts(counts, ranks)
    if ranks.rank > 0:
        return 0  # rank 0 reports the total and the exit status
    if ranks.enabled:
        print(
            f"{ranks.world_size} ranks: {total.written} written, {total.skipped} skipped "
            f"(exist), {total.failed} failed"
        )
    elif not pending:
        print(f"nothing to do: all {len(jobs)} outputs exist")
    if total.failed:
        raise ExpodiffError(
            f"{total.failed} of {total.written + total.failed} inputs failed (see above); fix "
            "them and re-run (finished outputs are skipped)"
        )
    return 0


def _enhance_jobs(pending, args: argparse.Namespace, single: bool, ranks) -> tuple[int, int]:
    """Enhance ``pending`` jobs on this rank's device; returns how many failed (a single
    output file's failure is raised) and how many outputs another process (a second
    ``expodiff enhance`` into the same folder) wrote meanwhile, which are skipped."""
    from tqdm import tqdm

    from ..devices import resolve_device
    from ..errors import describe_os_error
    from ..inference.model_loading import load_model
    from ..io.atomic import OutputExistsError

    # auto/cuda: cuda:LOCAL_RANK under torchrun (cuda:0 alone), else the CPU.
    device = resolve_device(args.device, ranks.local_rank)
    if device.type == "cuda":
        import torch

        torch.cuda.set_device(device)
    model = load_model(args.model, device=device)

    def report(line: str) -> None:
        tqdm.write(f"{ranks.prefix}{line}", file=sys.stderr)

    failures = meanwhile = 0
    # disable=None: tqdm draws only when stderr is a terminal (logs and pipes stay clean);
    # under torchrun only rank 0 draws (the ranks share the terminal).
    disable = True if args.quiet or ranks.rank > 0 else None
    files_bar = tqdm(
        pending, desc="files", unit="file", disable=disable if len(pending) > 1 else True
    )
    for job in files_bar:
        if not args.overwrite and job.done():
            meanwhile += 1
            tqdm.write(f"{ranks.prefix}{job.source} -> {job.output}: {_WRITTEN_MEANWHILE}")
            continue
        start = time.perf_counter()
        # Within a file: one unit per network evaluation of one tile (samples x steps x tiles).
        evals_bar = tqdm(total=0, desc=job.source.name, unit="tile", leave=False, disable=disable)

        def progress(done: int, total: int, bar=evals_bar) -> None:
            if bar.total != total:
                bar.total = total
                bar.refresh()
            bar.update(done - bar.n)

        try:
            result, extra = _enhance_one(job, args, model, report, progress)
        except (ExpodiffError, OSError) as exc:
            if isinstance(exc, OutputExistsError) and exc.path in (job.output, job.uncertainty):
                # Pending when planned, so another run wrote it since (whole: files are
                # moved into place complete), or its map, which it writes first: that run
                # does this job; this run's result is dropped, nothing replaced.
                meanwhile += 1
                tqdm.write(f"{ranks.prefix}{job.source} -> {job.output}: {_WRITTEN_MEANWHILE}")
                continue
            if single:
                raise
            failures += 1
            why = describe_os_error(exc) if isinstance(exc, OSError) else exc
            report(f"expodiff: error: {why}")
            continue
        finally:
            evals_bar.close()
        seconds = time.perf_counter() - start
        summary = result.summary().rsplit(", ", 1)[0]  # the total time is printed below
        tqdm.write(f"{ranks.prefix}{job.source} -> {job.output}: {summary}, {seconds:.1f} s{extra}")
        sys.stdout.flush()  # each line as it happens, whole (in logs, and under torchrun)
    files_bar.close()
    return failures, meanwhile


def _enhance_one(job, args: argparse.Namespace, model, report, progress):
    """Read, enhance and write one job; ``(result, extra text for its summary line)``."""
    from ..inference.api import enhance
    from ..inference.pipeline import OutputFormat, write_result, write_uncertainty
    from ..io.dng import check_dng_size

    frame = _read(job.source, args, report)
    if job.fmt is OutputFormat.DNG:
        check_dng_size(job.source, frame.height, frame.width)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = enhance(
            frame,
            ratio=args.ratio,
            steps=args.steps,
            input_consistency_sigma=args.consistency,
            model=model,
            seed=args.seed,
            samples=args.samples,
            views=args.views,
            system_gain=args.system_gain,
            camera=args.camera,
            target_exposure=args.target_exposure,
            target_iso=args.target_iso,
            tile=args.tile,
            srgb=job.fmt is not OutputFormat.DNG,
            progress=progress,
        )
    for warning in caught:
        report(f"expodiff: warning: {warning.message}")
    extra = ""
    new_map = None  # a map this job created, removed again if the main output fails
    if job.uncertainty is not None and result.uncertainty is not None:
        existed = job.uncertainty.exists()
        scale = write_uncertainty(job.uncertainty, result, overwrite=args.overwrite)
        new_map = None if existed else job.uncertainty
        extra = f"; uncertainty map {job.uncertainty} (white = std {scale:.3g})"
    elif job.uncertainty is not None:
        extra = "; no uncertainty map (nothing was sampled)"
    try:
        write_result(result, job.output, job.fmt, bits=args.bits, overwrite=args.overwrite)
    except BaseException:
        # The main output is written last and marks a finished job: without it the job is
        # redone by a re-run, which must find no map of this attempt in its way.
        if new_map is not None:
            new_map.unlink(missing_ok=True)
        raise
    return result, extra
