"""Files and folders for ``expodiff enhance``: which outputs, and writing them.

* :func:`collect_inputs`: raw files, and the raw files directly inside folders (by
  extension, sorted by name; hidden files such as macOS's ``._NAME`` and interrupted
  temporary files are skipped);
* :func:`plan_jobs`: one :class:`EnhanceJob` per input. ``OUT`` with an image/DNG extension
  is a single output file (one input; the extension picks the format); anything else is a
  folder (created when the first output is written) in which each output keeps its input's
  file name with the extension of ``--format`` (default PNG);
* :func:`write_result`: the enhanced image as PNG (8/16-bit) or TIFF (8/16-bit) through the
  ISP, or as a DNG holding the enhanced raw mosaic at reference brightness with the source's
  CFA, black/white levels, white balance, colour matrix, orientation, make, model and ISO
  (exposure time: the input's times the ratio);
* :func:`write_uncertainty`: the per-pixel standard deviation over samples as a PNG heat
  map ``NAME.uncertainty.png`` beside the output.

Every file is written atomically (temporary file + rename), the uncertainty map *before* the
main output, so an existing main output means a finished job: a folder run that was
interrupted is completed by running it again (finished outputs are skipped unless
``overwrite``). A job whose main output fails or is interrupted removes the map it wrote.
The uncertainty map is an output like the main one: it never replaces an existing file
without ``overwrite`` (checked before any work), never an input (not even with it), and no
two outputs of a run share a path. An output is never an input file of the run.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import numpy as np
import torch

from ..errors import InputFileError, OutputFileError
from ..io.atomic import atomic_output, check_output_path, refuse_input_as_output
from ..io.inputs import RAW_FILE_EXTENSIONS, is_hidden
from ..raw import unpack
from .render import packed_pixel_side
from .result import EnhanceResult, enhanced_exposure_time

__all__ = [
    "RAW_EXTENSIONS",
    "UNCERTAINTY_SUFFIX",
    "HEATMAP_PERCENTILE",
    "OutputFormat",
    "EnhanceJob",
    "collect_inputs",
    "plan_jobs",
    "enhanced_mosaic_dn",
    "write_result",
    "uncertainty_heatmap",
    "write_uncertainty",
]

# File name endings (lower case) that a folder input treats as camera raw files.
RAW_EXTENSIONS = RAW_FILE_EXTENSIONS
UNCERTAINTY_SUFFIX = ".uncertainty.png"
# Image formats people may try as an output name; expodiff writes PNG, TIFF and DNG only.
_OTHER_IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".heic", ".exr", ".jxl")
# The heat map's white point: this percentile of the standard deviation (a few hot pixels
# would otherwise leave the rest of the map black); the PNG records the value.
HEATMAP_PERCENTILE = 99.5
# An "inferno"-like ramp (matplotlib's inferno at 0, 1/4, 1/2, 3/4, 1): black -> purple ->
# red -> orange -> pale yellow, perceptually ordered and readable in grey.
_HEATMAP_RAMP = np.array(
    [
        [0.001, 0.000, 0.014],
        [0.341, 0.062, 0.429],
        [0.735, 0.216, 0.330],
        [0.978, 0.557, 0.035],
        [0.988, 0.998, 0.645],
    ]
)


class OutputFormat(str, Enum):
    """Output file formats of ``expodiff enhance``."""

    PNG = "png"
    TIFF = "tif"
    DNG = "dng"

    @property
    def extension(self) -> str:
        return f".{self.value}"

    @classmethod
    def parse(cls, text: str) -> OutputFormat:
        key = text.strip().lower().lstrip(".")
        key = "tif" if key == "tiff" else key
        for member in cls:
            if member.value == key:
                return member
        raise OutputFileError(f"unknown output format {text!r}; valid: png, tif, dng")

    @classmethod
    def from_path(cls, path: Path) -> OutputFormat | None:
        """The format an output file name asks for, or None for another extension."""
        suffix = path.suffix.lower()
        if suffix in (".png", ".tif", ".tiff", ".dng"):
            return cls.parse(suffix)
        return None


@dataclass(frozen=True)
class EnhanceJob:
    """One input and where its outputs go.

    Attributes:
        source: the raw file.
        output: the enhanced image.
        fmt: its :class:`OutputFormat`.
        uncertainty: the heat map path (runs with several samples), else None.
    """

    source: Path
    output: Path
    fmt: OutputFormat
    uncertainty: Path | None = None

    def done(self) -> bool:
        """The main output exists (it is written last, so the job finished)."""
        return self.output.exists()


def collect_inputs(inputs: Sequence[str | Path]) -> list[Path]:
    """Raw files named, and the raw files directly inside folders named.

    Raises:
        InputFileError: a missing path, a folder that cannot be read, or a folder without raw
            files.
    """
    files: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            try:
                raws = [p for p in path.iterdir() if p.suffix.lower() in RAW_EXTENSIONS]
                found = sorted(p for p in raws if not is_hidden(p) and p.is_file())
            except OSError as exc:
                raise InputFileError(f"{path}: cannot read the folder ({exc.strerror})") from None
            if not found:
                valid = " ".join(RAW_EXTENSIONS)
                hidden = sum(1 for p in raws if is_hidden(p))
                skipped = f"; {hidden} hidden files skipped" if hidden else ""
                raise InputFileError(f"{path}: folder holds no raw files ({valid}){skipped}")
            files.extend(found)
        elif path.exists():
            files.append(path)
        else:
            raise InputFileError(f"{path}: no such file or folder")
    return files


def _uncertainty_path(output: Path) -> Path:
    return output.with_name(output.stem + UNCERTAINTY_SUFFIX)


def plan_jobs(
    inputs: Sequence[Path],
    output: str | Path,
    *,
    fmt: OutputFormat | None = None,
    samples: int = 1,
    overwrite: bool = False,
) -> tuple[list[EnhanceJob], bool]:
    """Where each input's outputs go (see the module docstring); checked before any work.

    Args:
        inputs: the raw files (:func:`collect_inputs`).
        output: ``OUT``: a file name (one input) or a folder.
        fmt: the format of folder outputs (default PNG); must agree with a file name's.
        samples: trajectories per input (> 1 adds an uncertainty map per output).
        overwrite: whether existing outputs may be replaced.

    Returns:
        ``(jobs, single)``: ``single`` is True for a single output file.

    Raises:
        OutputFileError: a file name for several inputs, an unknown extension, a format that
            disagrees with the extension, two inputs mapping to the same output, an existing
            single output without ``overwrite``, or an unwritable folder.
    """
    if not str(output).strip():
        raise OutputFileError("the output path is empty; give a file or folder name")
    out = Path(output)
    from_name = None if out.is_dir() else OutputFormat.from_path(out)
    if from_name is not None:
        if len(inputs) != 1:
            raise OutputFileError(
                f"{out}: a file name, but there are {len(inputs)} inputs; give a folder"
            )
        if fmt is not None and fmt is not from_name:
            raise OutputFileError(
                f"{out}: the extension says {from_name.value}, --format {fmt.value}"
            )
        check_output_path(out, overwrite=overwrite, inputs=inputs[:1])
        job = EnhanceJob(inputs[0], out, from_name, _uncertainty_path(out) if samples > 1 else None)
        if job.uncertainty is not None:
            refuse_input_as_output(job.uncertainty, inputs[:1])  # even with overwrite
            _check_map_path(job, overwrite)
        return [job], True
    if out.exists() and not out.is_dir():
        raise OutputFileError(f"{out}: exists and is not a folder")
    if not out.exists() and out.suffix.lower() in _OTHER_IMAGE_EXTENSIONS:
        raise OutputFileError(
            f"{out}: cannot write {out.suffix} files; use .png, .tif, .tiff or .dng (or a "
            "folder name)"
        )
    fmt = fmt or OutputFormat.PNG
    jobs: list[EnhanceJob] = []
    writers: dict[Path, str] = {}  # every path the run writes -> what writes it
    input_files = _InputFiles(inputs) if out.exists() else None
    for source in inputs:
        target = out / (source.stem + fmt.extension)
        job = EnhanceJob(source, target, fmt, _uncertainty_path(target) if samples > 1 else None)
        for path, what in ((target, str(source)), (job.uncertainty, f"the map of {source}")):
            if path is None:
                continue
            if path in writers:
                raise OutputFileError(
                    f"{path}: both {writers[path]} and {what} would be written there; "
                    "enhance them into different folders"
                )
            writers[path] = what
            if input_files is not None:
                input_files.refuse(path)
        jobs.append(job)
    existing = next(p for p in (out, *out.absolute().parents) if p.exists())
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise OutputFileError(f"{out}: cannot write there ({existing} is not a writable folder)")
    for job in jobs:
        # A finished job (its main output exists) is skipped and writes no map.
        if job.uncertainty is not None and (overwrite or not job.done()):
            _check_map_path(job, overwrite)
    return jobs, False


def _check_map_path(job: EnhanceJob, overwrite: bool) -> None:
    """The uncertainty map of ``job`` may be written (an existing file only with
    ``overwrite``)."""
    path = job.uncertainty
    assert path is not None
    if path.is_dir():
        raise OutputFileError(f"{path}: is a directory (the uncertainty map of {job.output})")
    if path.exists() and not overwrite:
        raise OutputFileError(
            f"{path}: already exists (the uncertainty map of {job.output} would go there; "
            "pass --overwrite to replace it, or move it)"
        )


class _InputFiles:
    """The files of the inputs (device and inode), to refuse any output that is one of them
    whatever its name (links, other paths) without comparing every pair."""

    def __init__(self, inputs: Sequence[Path]) -> None:
        self.ids: dict[tuple[int, int], Path] = {}
        for source in inputs:
            with contextlib.suppress(OSError):
                st = source.stat()
                self.ids.setdefault((st.st_dev, st.st_ino), source)

    def refuse(self, path: Path) -> None:
        """Raise :class:`OutputFileError` when ``path`` is one of the input files."""
        try:
            st = path.stat()
        except OSError:
            return  # not there: not an input
        source = self.ids.get((st.st_dev, st.st_ino))
        if source is not None:
            which = "" if source == path else f" {source}"
            raise OutputFileError(
                f"{path}: is the input file{which}; write the results into another folder"
            )


def enhanced_mosaic_dn(result: EnhanceResult) -> torch.Tensor:
    """The enhanced raw as a ``(H, W)`` float DN mosaic on the source's levels, clipped to
    ``[0, white]``."""
    frame = result.frame
    if frame is None:
        raise ValueError("a DNG needs the source frame's levels (the input was a packed array)")
    mosaic_norm = unpack(result.raw_norm, result.cfa)
    sensor = frame.sensor
    return sensor.denormalize_mosaic(mosaic_norm).clamp_(0.0, sensor.white_level)


def write_result(
    result: EnhanceResult,
    path: Path,
    fmt: OutputFormat,
    *,
    bits: int | None = None,
    overwrite: bool = False,
) -> Path:
    """Write the enhanced image (``fmt``) to ``path`` atomically.

    Args:
        result: from :func:`expodiff.enhance` (PNG/TIFF need ``result.srgb``).
        path: output file.
        fmt: PNG, TIFF or DNG.
        bits: PNG/TIFF bits per sample (default 8 for PNG, 16 for TIFF); DNG: 16.
        overwrite: replace an existing file.
    """
    from ..io.dng import write_dng
    from ..io.writers import crop_for_display, write_image
    from .render import result_metadata

    path.parent.mkdir(parents=True, exist_ok=True)
    metadata = result_metadata(result)  # EXIF and the source's default crop
    if fmt is OutputFormat.DNG:
        frame = result.frame
        if frame is None:
            raise OutputFileError(f"{path}: a DNG needs a raw-file input")
        return write_dng(
            path,
            enhanced_mosaic_dn(result),
            frame.sensor,
            white_balance=frame.white_balance,
            colour_matrix=frame.colour_matrix,
            make=frame.make,
            model=frame.model,
            iso=frame.iso,
            exposure_time=enhanced_exposure_time(result),
            orientation=frame.orientation,
            bits=16,
            overwrite=overwrite,
            metadata=metadata,
        )
    if result.srgb is None:
        raise ValueError("write_result needs the sRGB image: call enhance(..., srgb=True)")
    image = crop_for_display(result.srgb, metadata)
    return write_image(path, image, bits=bits, overwrite=overwrite, metadata=metadata)


def uncertainty_heatmap(
    std: torch.Tensor, orientation: int = 1, side: int = 2
) -> tuple[np.ndarray, float]:
    """A colour heat map of a per-pixel standard deviation.

    Args:
        std: ``(C, h, w)`` standard deviation of the packed raw (raw_norm).
        orientation: EXIF orientation of the frame (the map is rotated like the image).
        side: photosites per side of a packed pixel (2 Bayer, 3 X-Trans).

    Returns:
        ``(H, W, 3)`` uint8 RGB at the mosaic's size (the RMS over channels, white at the
        ``HEATMAP_PERCENTILE`` percentile), and that white point in raw_norm (0 for an
        all-zero map, which is black).
    """
    from ..io.isp import orient

    level = std.float().square().mean(dim=0).sqrt().cpu().numpy()  # (h, w)
    scale = float(np.percentile(level, HEATMAP_PERCENTILE)) if level.size else 0.0
    if not scale > 0:
        scale = float(level.max()) if level.size else 0.0
    t = np.clip(level / scale, 0.0, 1.0) if scale > 0 else np.zeros_like(level)
    ramp = _HEATMAP_RAMP.astype(np.float32)
    position = t * (len(ramp) - 1)
    index = np.minimum(position.astype(np.int64), len(ramp) - 2)
    frac = (position - index)[..., None]
    rgb = np.rint((ramp[index] * (1.0 - frac) + ramp[index + 1] * frac) * 255.0).astype(np.uint8)
    image = np.repeat(np.repeat(rgb, side, axis=0), side, axis=1)  # packed -> photosites
    return orient(image, orientation), scale


def write_uncertainty(path: Path, result: EnhanceResult, *, overwrite: bool = False) -> float:
    """Write ``result.uncertainty`` as a heat-map PNG; returns its white point (raw_norm).

    The PNG's ``Description`` text says what the colours mean.
    """
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    from ..io.writers import crop_for_display
    from .render import result_metadata

    if result.uncertainty is None:
        raise ValueError("the result has no uncertainty map (run with samples > 1)")
    path.parent.mkdir(parents=True, exist_ok=True)
    path = check_output_path(path, overwrite=overwrite, extensions=(".png",))
    orientation = result.frame.orientation if result.frame is not None else 1
    side = packed_pixel_side(result.cfa)
    image, scale = uncertainty_heatmap(result.uncertainty, orientation, side)
    image = crop_for_display(image, result_metadata(result))  # aligned with the image output
    info = PngInfo()
    info.add_text(
        "Description",
        f"expodiff uncertainty: per-pixel standard deviation over {result.samples} samples "
        f"of the enhanced raw (raw_norm, RMS over colour channels); black = 0, "
        f"pale yellow = {scale:.4g} (the {HEATMAP_PERCENTILE:g}th percentile) or more",
    )
    with atomic_output(path, overwrite=overwrite) as tmp:
        Image.fromarray(image).save(tmp, format="PNG", pnginfo=info)
    return scale
