"""``expodiff calibrate``: a noise profile (and dark shading) of the user's own camera.

Reads every raw file of a folder (any LibRaw format, through :func:`expodiff.io.rawio.read_raw`),
sorts the frames into dark frames and flat-field frames (rule:
:func:`expodiff.noise.calibrate.classify_frame`), estimates the noise model per ISO and across
ISOs (:func:`expodiff.noise.calibrate.calibrate_frames`) and writes a profile JSON that
``NoiseConfig.cameras`` accepts as a path, the dark-shading maps beside it
(``PROFILE.darkshading.npz``) and, on request, a PNG of the fits. See docs/noise.md.
"""

from __future__ import annotations

import argparse
import re
import sys
import warnings
from pathlib import Path

from ..errors import ExpodiffError, InputFileError, OutputFileError

# ISO from a file name when the metadata lacks it: "..._iso800_...", "ISO-3200", ...
_ISO_IN_NAME = re.compile(r"iso[-_ ]?(\d+)", re.IGNORECASE)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "calibrate",
        help="estimate a noise profile of your camera from dark and flat-field raw frames",
        description=(
            "Estimate the ELD noise model of a camera from a folder of raw frames: dark frames "
            "(lens capped, shortest exposure) and pairs of flat-field frames (an evenly lit "
            "surface, two frames per brightness) at two or more ISOs. Frames whose file name "
            "contains 'dark' or 'bias' are dark frames, 'flat' flat frames; otherwise a frame "
            "whose median is within 1% of the range above black is dark. Writes the profile "
            "(JSON), the dark-shading maps beside it (.darkshading.npz) and optionally a plot."
        ),
    )
    p.add_argument("folder", metavar="FOLDER", help="folder holding the raw frames")
    p.add_argument("-o", "--output", required=True, metavar="PROFILE.json", help="profile file")
    p.add_argument("--plot", metavar="FITS.png", help="also write a PNG plot of the fits")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.add_argument("--name", help="camera name stored in the profile (default: the model)")
    p.add_argument(
        "--no-dark-shading", action="store_true", help="do not estimate dark-shading maps"
    )
    p.add_argument(
        "--split-iso",
        type=float,
        default=1600.0,
        metavar="ISO",
        help="dark shading: ISOs up to this use the low branch (default 1600, as PMN)",
    )
    p.set_defaults(func=run)


def _dark_shading_path(output: Path) -> Path:
    return output.with_name(output.stem + ".darkshading.npz")


def read_folder(folder: Path):
    """Calibration frames of a folder, plus the camera (make, model) and skipped files.

    Raises:
        InputFileError: not a folder, no raw frames in it, frames of several cameras, or a
            frame without an ISO (in metadata or name).
    """
    from ..io.rawio import read_raw
    from ..noise.calibrate import CalibrationFrame, classify_frame

    if not folder.exists():
        raise InputFileError(f"{folder}: no such folder")
    if not folder.is_dir():
        raise InputFileError(f"{folder}: not a folder (pass the folder holding the frames)")
    try:
        files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    except OSError as exc:
        raise InputFileError(f"{folder}: cannot read the folder ({exc.strerror})") from None
    frames, cameras, skipped = [], {}, []
    for path in files:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                raw = read_raw(path)
        except InputFileError:
            skipped.append(path.name)
            continue
        iso = raw.iso
        if not iso:
            match = _ISO_IN_NAME.search(path.stem)
            if match is None:
                raise InputFileError(
                    f"{path}: no ISO in the metadata or the file name (name it like "
                    "'dark_iso800_1.dng')"
                )
            iso = float(match.group(1))
        if not raw.cfa.is_bayer:
            raise InputFileError(f"{path}: calibration supports Bayer sensors only")
        cameras.setdefault((raw.make, raw.model), []).append(path.name)
        kind = classify_frame(path.name, raw.mosaic, raw.sensor.black_level, raw.sensor.white_level)
        exposure = None if raw.exposure_time is None else float(raw.exposure_time)
        frames.append(
            CalibrationFrame(
                mosaic=raw.mosaic,
                iso=float(iso),
                kind=kind,
                cfa=raw.cfa,
                black_level=raw.sensor.black_level,
                white_level=raw.sensor.white_level,
                name=path.name,
                exposure_time=exposure,
            )
        )
    if not frames:
        what = f" ({len(skipped)} unreadable file(s) skipped)" if skipped else ""
        raise InputFileError(f"{folder}: no raw frames found{what}")
    if len(cameras) > 1:
        listing = "; ".join(
            f"{' '.join(x for x in cam if x) or 'unknown camera'}: {names[0]}"
            + (f" (+{len(names) - 1} more)" if len(names) > 1 else "")
            for cam, names in cameras.items()
        )
        raise InputFileError(
            f"{folder}: frames of several cameras; calibrate one at a time ({listing})"
        )
    make, model = next(iter(cameras))
    return frames, make, model, skipped


def run(args: argparse.Namespace) -> int:
    from ..io.atomic import atomic_output, check_output_path
    from ..io.profiles import profile_to_json
    from ..noise.calibrate import FrameKind, calibrate_frames

    folder = Path(args.folder)
    output = check_output_path(args.output, overwrite=args.overwrite, extensions=(".json",))
    shading_path = _dark_shading_path(output)
    if not args.no_dark_shading:
        check_output_path(shading_path, overwrite=args.overwrite, extensions=(".npz",))
    if args.plot:
        check_output_path(args.plot, overwrite=args.overwrite, extensions=(".png",))
        _require_matplotlib()
    if not args.split_iso > 0:
        raise ExpodiffError(f"--split-iso must be positive, got {args.split_iso}")

    frames, make, model, skipped = read_folder(folder)
    n_dark = sum(f.kind is FrameKind.DARK for f in frames)
    print(
        f"{folder}: {len(frames)} frames ({n_dark} dark, {len(frames) - n_dark} flat) at ISO "
        + ", ".join(f"{i:g}" for i in sorted({f.iso for f in frames}))
        + (f"; {len(skipped)} non-raw file(s) skipped" if skipped else "")
    )
    name = args.name or (model or make or folder.name).replace(" ", "")
    source = (
        f"expodiff calibrate of {len(frames)} frames in {folder.name}/ "
        f"({' '.join(x for x in (make, model) if x) or 'unknown camera'})"
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = calibrate_frames(
            frames,
            name=name,
            make=make,
            model=model,
            source=source,
            dark_shading=not args.no_dark_shading,
            split_iso=args.split_iso,
        )
    for note in [str(w.message) for w in caught] + list(result.warnings):
        print(f"expodiff: warning: {note}", file=sys.stderr)

    profile = result.profile
    if result.dark_shading is not None:
        from dataclasses import replace

        from ..io.dark_shading import save_dark_shading

        profile = replace(profile, dark_shading=shading_path.name)
        with atomic_output(shading_path, overwrite=args.overwrite) as tmp:
            save_dark_shading(result.dark_shading, tmp)
    with atomic_output(output, overwrite=args.overwrite) as tmp:
        tmp.write_text(profile_to_json(profile), encoding="utf-8")
    _print_summary(result)
    print(f"profile written to {output}")
    if result.dark_shading is not None:
        print(f"dark shading written to {shading_path}")
    if args.plot:
        with atomic_output(args.plot, overwrite=args.overwrite) as tmp:
            plot_fits(result, tmp)
        print(f"plot written to {args.plot}")
    return 0


def _print_summary(result) -> None:
    p = result.profile
    print(f"{'ISO':>7} {'K':>9} {'sigma_g':>8} {'lambda':>7} {'sigma_TL':>8} {'sigma_r':>8}")
    for c in p.calibration:
        print(
            f"{c.iso:7g} {c.system_gain:9.4f} {c.read_sigma:8.3f} {c.tukey_shape:7.3f} "
            f"{c.tukey_scale:8.3f} {c.row_sigma:8.3f}"
        )
    print(f"K(ISO 100) = {p.gain_min:.4g}, K(ISO 6400) = {p.gain_max:.4g} DN/electron")
    for label, m in (("sigma_g", p.read_gaussian), ("sigma_TL", p.read_tukey), ("sigma_r", p.row)):
        print(f"log {label} = {m.slope:.4f} log K + {m.bias:.4f}  (spread {m.sigma:.4f})")


def _require_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise OutputFileError(
            "--plot needs matplotlib (pip install 'expodiff[research]' or matplotlib)"
        ) from None


def plot_fits(result, path: Path) -> None:
    """Four panels: photon transfer per ISO, K(ISO), the log-linear scale fits, lambda."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    p = result.profile
    fig, axes = plt.subplots(2, 2, figsize=(11, 8.5))
    ax = axes[0, 0]
    for r in result.per_iso:
        pts = np.array(r.gain.points + tuple(r.dark.pair_points))
        (line,) = ax.plot(pts[:, 0], pts[:, 1], "o", ms=4, label=f"ISO {r.iso:g}")
        xs = np.linspace(0, pts[:, 0].max(), 50)
        ax.plot(xs, r.gain.system_gain * xs + r.gain.intercept, "-", color=line.get_color())
    ax.set(
        xlabel="mean signal above black (DN)",
        ylabel="var(A - B) / 2 (DN²)",
        title="photon transfer (slope = K)",
    )
    ax.legend(fontsize=8)

    ax = axes[0, 1]
    isos = np.array([c.iso for c in p.calibration])
    ax.plot(isos, [c.system_gain for c in p.calibration], "o", label="measured")
    xs = np.linspace(0, max(isos.max(), 6400), 50)
    a, b = result.gain_line
    ax.plot(xs, a * xs + b, "-", label=f"K = {a:.3g} ISO + {b:.3g}")
    ax.set(xlabel="ISO", ylabel="K (DN/electron)", title="system gain")
    ax.legend(fontsize=8)

    ax = axes[1, 0]
    log_k = np.log([c.system_gain for c in p.calibration])
    xs = np.linspace(log_k.min() - 0.2, log_k.max() + 0.2, 20)
    for label, attr, model in (
        ("σ_g", "read_sigma", p.read_gaussian),
        ("σ_TL", "tukey_scale", p.read_tukey),
        ("σ_r", "row_sigma", p.row),
    ):
        values = np.log(np.maximum([getattr(c, attr) for c in p.calibration], 1e-3))
        (line,) = ax.plot(log_k, values, "o", label=label)
        ax.plot(xs, model.slope * xs + model.bias, "-", color=line.get_color())
    ax.set(xlabel="log K", ylabel="log σ (DN)", title="joint model log σ = a log K + b")
    ax.legend(fontsize=8)

    ax = axes[1, 1]
    ax.plot(isos, [c.tukey_shape for c in p.calibration], "o-")
    for c in p.calibration:
        if c.tukey_ppcc is not None:
            ax.annotate(f"{c.tukey_ppcc:.5f}", (c.iso, c.tukey_shape), fontsize=7)
    ax.set(xscale="log", xlabel="ISO", ylabel="λ", title="Tukey-lambda shape (PPCC annotated)")
    ax.set_xticks(isos, [f"{i:g}" for i in isos])
    ax.minorticks_off()
    fig.suptitle(f"expodiff calibrate: {p.name}")
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=100)
    plt.close(fig)
